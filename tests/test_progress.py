"""Progress bars: live in a terminal, a few whole lines in a log."""

import io
import re
from pathlib import Path

from tinylidar_gym.data.progress import live_bars, progress_bar

ROOT = Path(__file__).resolve().parents[1]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _lines(text: str) -> list[str]:
    """What a log viewer shows: a carriage return starts a new line as a newline does."""
    return [line for line in re.split(r"[\r\n]", text) if line.strip()]


def test_a_log_gets_a_few_whole_lines_not_one_per_update():
    log = io.StringIO()
    for _ in progress_bar(range(5000), desc="episodes", unit="ep", file=log):
        pass
    text = log.getvalue()
    lines = _lines(text)
    # The start and the end; a quick loop stays inside one logging interval.
    assert 1 <= len(lines) <= 3, lines
    assert text.endswith("\n") and "\r" not in text
    assert "5000/5000" in lines[-1]


def test_manual_updates_in_a_log_are_sparse_too():
    log = io.StringIO()
    with progress_bar(total=800, desc="evaluate", unit="ep", file=log) as bar:
        for _ in range(800):
            bar.update(1)
    assert len(_lines(log.getvalue())) <= 3


def test_a_terminal_keeps_the_live_bar():
    term = _Terminal()
    for _ in progress_bar(range(3), desc="episodes", file=term, mininterval=0):
        pass
    assert "\r" in term.getvalue()  # redrawn in place
    assert live_bars(term) and not live_bars(io.StringIO())


def test_an_empty_loop_in_a_log_writes_nothing():
    log = io.StringIO()
    for _ in progress_bar([], desc="hard negatives", file=log):
        pass
    assert log.getvalue() == ""


def test_a_disabled_bar_writes_nothing():
    log = io.StringIO()
    for _ in progress_bar(range(10), file=log, disable=True):
        pass
    assert log.getvalue() == ""


def test_every_bar_in_the_code_is_made_by_progress_bar():
    """A tqdm bar made directly would write a line per update to a log again."""
    direct = []
    for package in ("tinylidar_gym", "trainers", "experiments"):
        for file in (ROOT / package).rglob("*.py"):
            if file.name == "progress.py":
                continue
            for n, line in enumerate(file.read_text().splitlines(), 1):
                if re.search(r"\btqdm\(", line) or re.search(r"progress_bar=progress[,}) ]", line):
                    direct.append(f"{file.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not direct, "use tinylidar_gym.data.progress instead:\n" + "\n".join(direct)
