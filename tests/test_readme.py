"""The README's Python examples run as written."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CI_SCRIPT = ROOT / ".ci" / "run"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"README.md[python block {index}]", "exec"), {})


def test_ci_runs_the_readme_test_command_with_the_browser_test_required():
    """`.ci/run` runs exactly the README's test command, under CI=true (so the browser test
    cannot skip there), and the benchmark gate after it."""
    quick_start = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    readme_cmds = re.findall(r"^(uv run pytest.*)$", quick_start, flags=re.M)
    assert readme_cmds == ["uv run pytest"]
    lines = [ln.strip() for ln in CI_SCRIPT.read_text().splitlines()]
    commands = [ln for ln in lines if ln and not ln.startswith("#")]
    ci_line = next(i for i, ln in enumerate(commands) if ln.startswith("export CI="))
    pytest_line = commands.index(readme_cmds[0])
    assert ci_line < pytest_line
    assert commands[pytest_line + 1 :] == ["uv run python benchmarks/gate.py"]
