"""``experiment-runner``: start-up imports, the one-line error handler, exit codes, run names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from experiments import experiment_runner
from experiments.errors import CommandFailed
from experiments.experiment_runner import SUBCOMMANDS, main, subcommand_module
from tinylidar_gym.sim.errors import UserError

HEAVY = ("torch", "imitation", "stable_baselines3")


def _modules_after(argv: list[str]) -> set[str]:
    """Which of HEAVY a fresh interpreter has imported after ``main(argv)`` (which exits)."""
    code = (
        "import sys, json\n"
        "from experiments.experiment_runner import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["collect", "--help"],
        ["summarize", "--help"],
        ["extract", "--help"],
        ["evaluate", "--help"],
        ["train-bc", "--help"],
        ["train-dagger", "--help"],
        ["train-rl", "--help"],
    ],
)
def test_help_and_subcommand_start_import_no_torch(argv: list[str]) -> None:
    assert _modules_after(argv) == set()


def test_collect_runs_without_importing_torch(tmp_path) -> None:
    argv = ["collect", "--episodes", "1", "--workers", "1", "--out", str(tmp_path)]
    assert _modules_after([*argv, "--env.max-episode-time-s", "1"]) == set()
    assert list(tmp_path.glob("*/manifest.json"))  # it did collect


def test_help_lists_every_subcommand_with_its_module_summary(capsys) -> None:
    main(["--help"])
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        doc = subcommand_module(name).__doc__
        summary = " ".join(doc.split("\n\n")[0].split())
        assert SUBCOMMANDS[name][1] == summary
        assert f"  {name} " in out


def test_no_or_unknown_subcommand_is_a_usage_error(capsys) -> None:
    for argv, needle in (([], "a subcommand is required"), (["colect"], "did you mean 'collect'")):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        assert needle in capsys.readouterr().err


def _fail_with(monkeypatch, exc: BaseException) -> None:
    def run(name: str, argv: list[str]) -> None:
        raise exc

    monkeypatch.setattr(experiment_runner, "_run", run)


def test_a_user_error_prints_one_line_and_exits_2(monkeypatch, capsys) -> None:
    monkeypatch.delenv("TINYLIDAR_DEBUG", raising=False)
    _fail_with(monkeypatch, UserError("data/x does not exist (run extract first)"))
    with pytest.raises(SystemExit) as info:
        main(["summarize"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: data/x does not exist (run extract first)\n"


def test_a_missing_file_the_user_named_is_a_user_error(monkeypatch, capsys) -> None:
    monkeypatch.delenv("TINYLIDAR_DEBUG", raising=False)
    with pytest.raises(SystemExit) as info:
        main(["summarize", str(Path("no") / "such-run")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(monkeypatch, how: str) -> None:
    _fail_with(monkeypatch, UserError("bad"))
    argv = ["summarize"]
    if how == "flag":
        argv = ["--debug", *argv]
    else:
        monkeypatch.setenv("TINYLIDAR_DEBUG", "1")
    with pytest.raises(UserError, match="bad"):
        main(argv)


def test_a_bug_keeps_its_traceback(monkeypatch) -> None:
    monkeypatch.delenv("TINYLIDAR_DEBUG", raising=False)
    _fail_with(monkeypatch, KeyError("epoch"))
    with pytest.raises(KeyError):
        main(["summarize"])


def test_a_failed_command_exits_1(monkeypatch, capsys) -> None:
    monkeypatch.delenv("TINYLIDAR_DEBUG", raising=False)
    _fail_with(monkeypatch, CommandFailed("2 episodes failed"))
    with pytest.raises(SystemExit) as info:
        main(["summarize"])
    assert info.value.code == 1
    assert capsys.readouterr().err == "error: 2 episodes failed\n"


@pytest.mark.parametrize("name", ["../elsewhere", "a/b", "a\\b", "..", "x..y"])
@pytest.mark.parametrize("subcommand", ["collect", "evaluate"])
def test_a_run_name_with_a_path_in_it_is_refused(tmp_path, capsys, name, subcommand) -> None:
    argv = [subcommand, "--out", str(tmp_path), "--run-name", name, "--episodes", "1"]
    if subcommand == "evaluate":
        argv += ["--policy", "expert", "--tracking.tracker", "none"]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "--run-name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def _fake_collect(monkeypatch, seeds: dict[str, dict]) -> None:
    import tinylidar_gym.data.collect as collect_mod
    import tinylidar_gym.data.summary as summary_mod

    manifest = {
        "seeds": seeds,
        "timings": {"sessions": [{"episodes_run": len(seeds), "wall_s": 1.0, "workers": 1}]},
    }
    monkeypatch.setattr(collect_mod, "collect", lambda job, workers, backend: manifest)

    class Summary:
        episodes = sum(s["status"] == "done" for s in seeds.values())
        success_rate = 1.0

    monkeypatch.setattr(summary_mod, "summarize", lambda run_dir: Summary())


def test_collect_exits_1_when_a_seed_failed_with_an_error(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.delenv("TINYLIDAR_DEBUG", raising=False)
    seeds = {"0": {"status": "done", "success": False}, "1": {"status": "failed", "error": "x"}}
    _fake_collect(monkeypatch, seeds)
    with pytest.raises(SystemExit) as info:
        main(["collect", "--episodes", "2", "--out", str(tmp_path)])
    assert info.value.code == 1
    assert "1 of 2 episodes failed with an error" in capsys.readouterr().err


def test_collect_exits_1_when_nothing_ran(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("TINYLIDAR_DEBUG", raising=False)
    _fake_collect(monkeypatch, {})
    with pytest.raises(SystemExit) as info:
        main(["collect", "--episodes", "0", "--out", str(tmp_path)])
    assert info.value.code != 0


def test_collect_with_driving_failures_only_succeeds(monkeypatch, tmp_path) -> None:
    _fake_collect(monkeypatch, {"0": {"status": "done", "success": False}})
    assert main(["collect", "--episodes", "1", "--out", str(tmp_path)]) is None  # exit status 0


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["train-bc", "--data", "d", "--bc.epochs", "0"], "--bc.epochs"),
        (["train-bc", "--data", "d", "--bc.batch-size", "0"], "--bc.batch-size"),
        (["collect", "--env.lidar.n-beams", "0"], "n_beams"),
    ],
)
def test_a_config_value_its_dataclass_refuses_is_one_error_line(capsys, argv, flag) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert flag in err
