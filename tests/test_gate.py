"""The benchmark gate's rules on synthetic figures: floors, pass/fail, the baseline file.

Nothing is measured or trained here; the gate's measuring functions are replaced by fakes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import gate_baseline as gb
from benchmarks.gate import Args, GateConfig, config_doc, run_gate

CFG = config_doc(GateConfig())
GOOD = {
    "single_env_steps_per_s": 30_000.0,
    "vector_env_agent_steps_per_s": 60_000.0,
    "expert_success_rate": 1.0,
    "model_success_rate": 0.9,
}


def _baseline(metrics: dict[str, float] | None = None) -> dict:
    return gb.new_baseline(dict(metrics or GOOD), {"gate_wall_s": 1.0}, CFG, None)


def _fakes(figures: dict[str, float], calls: list[str] | None = None):
    calls = calls if calls is not None else []

    def throughput(cfg):
        calls.append("throughput")
        return {k: v for k, v in figures.items() if k.endswith("_per_s")}, {"throughput_s": 0.1}

    def policies(cfg, work):
        calls.append(f"policies:{work}")
        assert work.is_dir()
        return {k: v for k, v in figures.items() if k.endswith("_rate")}, {"train_s": 0.1}

    return throughput, policies


def test_relative_and_absolute_floors():
    assert gb.Tolerance("relative", 0.5).floor(30_000) == pytest.approx(15_000)
    assert gb.Tolerance("relative", 0.6).floor(60_000) == pytest.approx(24_000)
    assert gb.Tolerance("absolute", 0.04).floor(1.0) == pytest.approx(0.96)
    assert gb.Tolerance("absolute", 0.1).floor(0.9) == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("kind", "value"), [("relative", 1.0), ("relative", -0.1), ("absolute", -1), ("ratio", 0.1)]
)
def test_bad_tolerances_are_refused(kind, value):
    with pytest.raises(ValueError, match="tolerance"):
        gb.Tolerance(kind, value)


def test_compare_pass_and_fail_at_the_floor():
    base = _baseline()
    # Exactly at each floor passes (2 of 50 lost; 10 points lost; half / 40% throughput).
    at_floor = {
        "single_env_steps_per_s": 15_000.0,
        "vector_env_agent_steps_per_s": 24_000.0,
        "expert_success_rate": 48 / 50,
        "model_success_rate": 24 / 30,
    }
    assert all(c.passed for c in gb.compare(base, at_floor, CFG))
    below = {
        "single_env_steps_per_s": 14_999.0,
        "vector_env_agent_steps_per_s": 23_999.0,
        "expert_success_rate": 47 / 50,
        "model_success_rate": 23 / 30,
    }
    checks = gb.compare(base, below, CFG)
    assert [c.passed for c in checks] == [False] * 4
    assert not gb.Check("m", 1.0, float("nan"), 0.5, gb.Tolerance("absolute", 0.5)).passed


def test_table_and_failure_message_name_what_fell():
    base = _baseline()
    checks = gb.compare(base, {**GOOD, "model_success_rate": 0.5}, CFG)
    table = gb.format_table(checks)
    lines = table.splitlines()
    assert lines[0].split()[:5] == ["metric", "baseline", "measured", "floor", "tolerance"]
    model = next(line for line in lines if line.startswith("model_success_rate"))
    assert "90.0%" in model and "50.0%" in model and "80.0%" in model and model.endswith("FAIL")
    assert sum(line.endswith("PASS") for line in lines) == 3
    msg = gb.failure_message(checks, "benchmarks/baseline.json")
    assert "model_success_rate 50.0% < floor 80.0%" in msg
    assert "expert_success_rate" not in msg
    assert gb.UPDATE_COMMAND in msg


def test_missing_baseline_says_how_to_create_it(tmp_path):
    with pytest.raises(gb.BaselineError, match="--update-baseline"):
        gb.load_baseline(tmp_path / "baseline.json")
    calls: list[str] = []
    with pytest.raises(gb.BaselineError, match="no benchmark baseline"):
        run_gate(Args(baseline=tmp_path / "baseline.json"), *_fakes(GOOD, calls))
    assert calls == []  # refused before minutes of measuring
    assert not (tmp_path / "baseline.json").exists()


def test_changed_settings_or_format_are_refused(tmp_path):
    path = tmp_path / "baseline.json"
    gb.write_baseline(path, _baseline())
    with pytest.raises(gb.BaselineError, match="settings changed.*epochs"):
        run_gate(Args(baseline=path, gate=GateConfig(epochs=9)), *_fakes(GOOD))
    doc = json.loads(path.read_text())
    gb.write_baseline(path, {**doc, "format_version": 99})
    with pytest.raises(gb.BaselineError, match="format_version 99"):
        gb.load_baseline(path)


def test_gate_passes_and_fails_without_ever_writing_the_baseline(tmp_path, capsys):
    path = tmp_path / "baseline.json"
    gb.write_baseline(path, _baseline())
    before = path.read_bytes()
    mtime = path.stat().st_mtime_ns
    assert run_gate(Args(baseline=path), *_fakes(GOOD)) == 0
    assert "benchmark gate passed" in capsys.readouterr().out
    bad = {**GOOD, "expert_success_rate": 0.9}
    assert run_gate(Args(baseline=path), *_fakes(bad)) == 1
    err = capsys.readouterr().err
    assert "expert_success_rate" in err and "--update-baseline" in err
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.json"]


def test_slow_throughput_is_measured_again_once(tmp_path):
    path = tmp_path / "baseline.json"
    gb.write_baseline(path, _baseline())
    calls: list[str] = []
    slow = {**GOOD, "vector_env_agent_steps_per_s": 10_000.0}
    assert run_gate(Args(baseline=path), *_fakes(slow, calls)) == 1
    assert calls.count("throughput") == 2
    calls.clear()
    assert run_gate(Args(baseline=path, throughput_retries=0), *_fakes(slow, calls)) == 1
    assert calls.count("throughput") == 1


def test_update_writes_new_figures_keeps_tolerances_and_prints_the_diff(tmp_path, capsys):
    path = tmp_path / "baseline.json"
    old = _baseline()
    old["tolerances"]["model_success_rate"] = {"kind": "absolute", "value": 0.2}
    gb.write_baseline(path, old)
    new_figures = {**GOOD, "single_env_steps_per_s": 45_000.0}
    assert run_gate(Args(baseline=path, update_baseline=True), *_fakes(new_figures)) == 0
    doc = gb.load_baseline(path)
    assert doc["metrics"] == new_figures
    assert doc["tolerances"]["model_success_rate"] == {"kind": "absolute", "value": 0.2}
    assert doc["config"] == CFG and doc["command"] == gb.UPDATE_COMMAND
    assert {"cpu_count", "python", "torch"} <= set(doc["machine"])
    assert "gate_wall_s" in doc["info"]
    out = capsys.readouterr().out
    assert "single_env_steps_per_s: 30,000 -> 45,000 (+50.0%)" in out


def test_update_creates_a_first_baseline(tmp_path):
    path = tmp_path / "new" / "baseline.json"
    assert run_gate(Args(baseline=path, update_baseline=True), *_fakes(GOOD)) == 0
    doc = gb.load_baseline(path)
    assert doc["tolerances"]["expert_success_rate"] == {"kind": "absolute", "value": 0.04}
    assert all(c.passed for c in gb.compare(doc, GOOD, CFG))


def test_update_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "baseline.json"
    gb.write_baseline(path, _baseline())
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        run_gate(
            Args(baseline=path, update_baseline=True), *_fakes({**GOOD, "model_success_rate": 0.5})
        )
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["baseline.json"]  # no temporary left


def test_work_dir_is_fresh_and_kept_or_temporary(tmp_path):
    path = tmp_path / "baseline.json"
    gb.write_baseline(path, _baseline())
    calls: list[str] = []
    work = tmp_path / "work"
    (work / "gate-old").mkdir(parents=True)
    assert run_gate(Args(baseline=path, work_dir=work), *_fakes(GOOD, calls)) == 0
    used = Path(calls[-1].split(":", 1)[1])
    assert used.parent == work and used.is_dir() and used.name != "gate-old"
    calls.clear()
    assert run_gate(Args(baseline=path), *_fakes(GOOD, calls)) == 0
    assert not Path(calls[-1].split(":", 1)[1]).exists()  # the temporary one is gone


def test_cli_without_a_baseline_exits_2_with_the_fix(tmp_path):
    # The command CI runs, as a script: it must find its sibling modules and fail clearly.
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gate.py"
    out = subprocess.run(
        [sys.executable, str(script), "--baseline", str(tmp_path / "baseline.json")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert "no benchmark baseline" in out.stderr and "--update-baseline" in out.stderr
    assert list(tmp_path.iterdir()) == []
