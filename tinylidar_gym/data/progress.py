"""Progress bars that suit both a terminal and a log file.

In a terminal a tqdm bar redraws itself in place many times a second. Written to a file or a
pipe (CI logs, ``nohup``, ``> log.txt``) every redraw is kept, and a long loop floods the log
with thousands of bar states. :func:`progress_bar` gives the usual live bar in a terminal and,
elsewhere, plain lines: the start, at most one line every ``log_interval_s`` and the end.
Bars that libraries draw themselves (imitation's BC trainer) are switched on only where
:func:`live_bars` says a terminal shows them.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO, TypeVar

from tqdm import tqdm

T = TypeVar("T")

LOG_INTERVAL_S = 5.0
"""Least time between two progress lines written to something that is not a terminal, s."""

# Cursor movement tqdm writes to stack several bars; meaningless in a log.
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def is_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default: stderr, where bars go) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def live_bars(stream: TextIO | None = None) -> bool:
    """Whether a library's own redraw-in-place bar should be shown: only in a terminal."""
    return is_terminal(stream)


class _LogLines:
    """A text stream for tqdm that turns its in-place redraws into whole lines.

    tqdm redraws with a leading carriage return, pads with spaces and clears with blanks; here
    each non-blank redraw becomes one newline-terminated line and the rest is dropped.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        for part in re.split(r"[\r\n]", _ANSI.sub("", text)):
            part = part.rstrip()
            if part:
                self._stream.write(part + "\n")
        return len(text)

    def flush(self) -> None:
        self._stream.flush()


def progress_bar(
    iterable: Iterable[T] | None = None,
    *,
    file: TextIO | None = None,
    log_interval_s: float = LOG_INTERVAL_S,
    **kwargs: Any,
) -> tqdm:
    """A tqdm bar over ``iterable`` (or with ``total=``), live in a terminal, sparse in a log.

    Args:
        iterable: what to iterate over, or None to call ``update`` by hand.
        file: where the bar goes (default: stderr).
        log_interval_s: least time between two lines when ``file`` is not a terminal, s.
        **kwargs: any other tqdm argument (``total``, ``desc``, ``unit``, ``disable``, ...).

    Returns:
        The tqdm bar. When ``file`` is not a terminal it writes a line at the start, at most one
        every ``log_interval_s`` and one at the end, each ending in a newline (nothing for an
        empty loop).
    """
    stream = sys.stderr if file is None else file
    if is_terminal(stream):
        return tqdm(iterable, file=stream, **kwargs)
    total = kwargs.get("total", len(iterable) if hasattr(iterable, "__len__") else None)
    if total == 0:  # nothing to do: no lines at all
        kwargs["disable"] = True
    kwargs.setdefault("mininterval", log_interval_s)
    kwargs.setdefault("maxinterval", max(log_interval_s, 10.0))
    return tqdm(iterable, file=_LogLines(stream), ascii=True, **kwargs)
