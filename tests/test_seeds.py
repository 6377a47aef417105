"""Seed ranges: disjoint per split, assigned by index, overlap-free by construction."""

import itertools

import pytest

from tinylidar_gym.data.seeds import SPLITS, split_of, split_seeds


def test_split_ranges_are_disjoint():
    for (na, a), (nb, b) in itertools.combinations(SPLITS.items(), 2):
        assert a.first + a.size <= b.first or b.first + b.size <= a.first, (na, nb)


def test_seeds_follow_the_split_start_and_stay_in_their_split():
    seeds = split_seeds("test", 5, 3)
    assert seeds == [SPLITS["test"].first + k for k in (5, 6, 7)]
    assert {split_of(s) for s in seeds} == {"test"}
    assert split_seeds("train", 0, 2) == [0, 1]


def test_consecutive_index_ranges_never_overlap():
    a = set(split_seeds("train", 0, 100))
    b = set(split_seeds("train", 100, 100))
    assert not a & b and len(a | b) == 200


@pytest.mark.parametrize(
    ("split", "first", "n", "match"),
    [
        ("training", 0, 1, "unknown split"),
        ("val", -1, 1, ">= 0"),
        ("val", SPLITS["val"].size - 1, 2, "do not fit"),
    ],
)
def test_bad_requests_are_explained(split, first, n, match):
    with pytest.raises(ValueError, match=match):
        split_seeds(split, first, n)


def test_seed_outside_every_split():
    with pytest.raises(ValueError, match="belongs to no split"):
        split_of(-5)
