"""Run summary on hand-made result files, including missing and corrupt ones."""

import csv
import json

import pytest

from tinylidar_gym.data.summary import latest_run, summarize


def _result(seed, success, reason, distance, cps, speed):
    return {
        "format_version": 1,
        "seed": seed,
        "split": "test",
        "success": success,
        "reason": reason,
        "metrics": {
            "distance_m": distance,
            "checkpoints_passed": cps,
            "checkpoints_total": 10,
            "checkpoint_pass_rate": cps / 10,
            "mean_speed_mps": speed,
            "min_obstacle_clearance_m": None,
        },
    }


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "runs" / "r1"
    results = [
        _result(1, True, "goal_reached", 90.0, 10, 6.0),
        _result(2, True, "goal_reached", 92.0, 10, 5.0),
        _result(3, False, "collision_obstacle", 30.0, 3, 4.0),
        _result(4, False, "collision_wall", 10.0, 1, 3.0),
    ]
    for r in results:
        d = run / "test" / f"seed_{r['seed']:07d}"
        d.mkdir(parents=True)
        (d / "config.yaml").write_text(f"seed: {r['seed']}\n")
        (d / "result.json").write_text(json.dumps(r))
    crashed = run / "test" / "seed_0000005"
    crashed.mkdir()
    (crashed / "config.yaml").write_text("seed: 5\n")
    corrupt = run / "test" / "seed_0000006"
    corrupt.mkdir()
    (corrupt / "result.json").write_text('{"success": tr')
    (run / "manifest.json").write_text("{}")
    return run


def test_summary_numbers(run_dir):
    s = summarize(run_dir)
    assert s.episodes == 4
    assert s.successes == 2
    assert s.success_rate == pytest.approx(0.5)
    assert dict(s.reasons) == {"goal_reached": 2, "collision_obstacle": 1, "collision_wall": 1}
    assert s.metric_means["distance_m"] == pytest.approx((90 + 92 + 30 + 10) / 4)
    assert s.metric_means["checkpoint_pass_rate"] == pytest.approx((1 + 1 + 0.3 + 0.1) / 4)
    assert s.metric_means["mean_speed_mps"] == pytest.approx(4.5)
    assert s.metric_means["distance_before_failure_m"] == pytest.approx(20.0)
    # None (no obstacle came near) is not a number and not averaged.
    assert "min_obstacle_clearance_m" not in s.metric_means


def test_missing_and_corrupt_results_are_named_not_fatal(run_dir):
    s = summarize(run_dir)
    assert [p.name for p in s.incomplete] == ["seed_0000005"]
    assert [p.name for p in s.corrupt] == ["seed_0000006"]
    text = s.format()
    assert "seed_0000005" in text and "seed_0000006" in text and "corrupt JSON" in text


def test_csv_has_one_row_per_readable_episode(run_dir):
    summarize(run_dir)
    with open(run_dir / "aggregated_results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["seed"]) for r in rows] == [1, 2, 3, 4]
    assert rows[2]["reason"] == "collision_obstacle"
    assert float(rows[0]["distance_m"]) == 90.0


def test_empty_run_and_missing_dir(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    s = summarize(empty)
    assert s.episodes == 0 and "episodes: 0" in s.format()
    with pytest.raises(FileNotFoundError):
        summarize(tmp_path / "nope")


def test_latest_run(tmp_path, run_dir):
    assert latest_run(run_dir.parent) == run_dir
    with pytest.raises(FileNotFoundError, match="experiment-runner collect"):
        latest_run(tmp_path / "nothing")
