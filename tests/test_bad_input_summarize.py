"""Bad input to summarize and report: result.json files that parse but break their schema."""

import json

import pytest

from tinylidar_gym.data.episode import read_result, validate_result
from tinylidar_gym.data.summary import summarize
from tinylidar_gym.report.build import build_report
from tinylidar_gym.sim.errors import UserError


def _good(seed, success=True):
    return {
        "seed": seed,
        "split": "train",
        "success": success,
        "reason": "goal_reached" if success else "collision_wall",
        "metrics": {"distance_m": 90.0, "progress": 1.0 if success else 0.3, "steps": 100},
        "final_pose": {"x_m": 1.0, "y_m": 2.0, "yaw_rad": 0.5},
    }


BAD = {
    "metrics_list": {**_good(3), "metrics": [1, 2]},
    "success_string": {**_good(4), "success": "false"},
    "metric_string": {**_good(5), "metrics": {"distance_m": "far"}},
    "no_reason": {k: v for k, v in _good(6).items() if k != "reason"},
    "not_an_object": [1, 2, 3],
    "seed_string": {**_good(7), "seed": "7"},
    "pose_list": {**_good(8), "final_pose": [0, 0, 0]},
}


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "runs" / "r"
    docs = [(1, _good(1)), (2, _good(2, success=False))]
    docs += [(10 + k, doc) for k, doc in enumerate(BAD.values())]
    for seed, doc in docs:
        d = run / "train" / f"seed_{seed:07d}"
        d.mkdir(parents=True)
        (d / "result.json").write_text(json.dumps(doc))
    return run


@pytest.mark.parametrize("name", sorted(BAD))
def test_schema_violations_are_named(tmp_path, name):
    assert validate_result(BAD[name]) is not None
    (tmp_path / "result.json").write_text(json.dumps(BAD[name]))
    with pytest.raises(ValueError, match="corrupt result"):
        read_result(tmp_path)


def test_a_valid_result_passes():
    assert validate_result(_good(1)) is None
    assert validate_result({"success": False, "reason": "timeout"}) is None


def test_summarize_counts_invalid_results_as_corrupt_never_as_episodes(run_dir):
    s = summarize(run_dir)
    assert s.episodes == 2 and s.successes == 1  # "success": "false" is not a success
    assert len(s.corrupt) == len(BAD)
    assert "'metrics' must be an object" in s.corrupt[run_dir / "train" / "seed_0000010"]
    assert "'success' must be true or false" in s.corrupt[run_dir / "train" / "seed_0000011"]
    assert "seed_0000010" in s.format()


def test_report_names_and_counts_invalid_results(run_dir, tmp_path):
    result = build_report(run_dir, tmp_path / "report", progress=False)
    assert result.episodes == 2
    page = result.index.read_text()
    assert "corrupt result.json (not counted)" in page and "seed_0000010" in page


def test_report_of_a_run_whose_every_result_is_corrupt(tmp_path):
    d = tmp_path / "r" / "train" / "seed_0000001"
    d.mkdir(parents=True)
    (d / "result.json").write_text(json.dumps(BAD["metrics_list"]))
    result = build_report(tmp_path / "r", tmp_path / "report", progress=False)
    assert result.episodes == 0 and "seed_0000001" in result.index.read_text()


def test_missing_paths_and_refused_destinations_are_user_errors(tmp_path, run_dir):
    from tinylidar_gym.data.summary import latest_run

    with pytest.raises(UserError, match="does not exist"):
        summarize(tmp_path / "nope")
    with pytest.raises(UserError, match="no run found"):
        latest_run(tmp_path / "nothing")
    with pytest.raises(UserError, match="is not a directory"):
        build_report(tmp_path / "nope", progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="holds no episodes"):
        build_report(empty, progress=False)
    build_report(run_dir, tmp_path / "report", progress=False)
    with pytest.raises(UserError, match="--overwrite"):
        build_report(run_dir, tmp_path / "report", progress=False)
    with pytest.raises(UserError, match="would contain the run"):
        build_report(run_dir, run_dir.parent, progress=False)
