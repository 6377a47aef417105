"""The benchmark gate also measures the vector env with one core kept busy (contended)."""

from __future__ import annotations

from benchmarks import gate_baseline as gb
from benchmarks.gate import GateConfig, measure_throughput

METRIC = "vector_env_contended_agent_steps_per_s"


def test_committed_baseline_gates_the_contended_vector_env():
    doc = gb.load_baseline(gb.DEFAULT_BASELINE)
    assert doc["metrics"][METRIC] > 0
    assert gb.tolerances_of(doc)[METRIC] == gb.Tolerance("relative", 0.6)
    assert gb.DEFAULT_TOLERANCES[METRIC] == gb.Tolerance("relative", 0.6)


def test_throughput_includes_the_contended_vector_env():
    tiny = GateConfig(single_steps=20, vector_steps=3, num_envs=4, throughput_repeats=1)
    figures, info = measure_throughput(tiny)
    assert set(figures) == {
        "single_env_steps_per_s", "vector_env_agent_steps_per_s", METRIC,
    }  # fmt: skip
    assert figures[METRIC] > 0
    assert len(info["vector_env_contended_repeats"]) == 1
