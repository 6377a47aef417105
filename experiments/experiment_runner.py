"""``experiment-runner``: one subcommand per step of the flow.

uv run experiment-runner --help
uv run experiment-runner drive --help
uv run experiment-runner --debug train-bc ...   # a user error with its traceback

Only the chosen subcommand's module is imported, and each module imports its heavy libraries
(torch, imitation, the simulator's kernels) inside ``run``: ``--help`` and the start of a
subcommand take about a second instead of the many it takes to import torch and imitation.

Errors: a :class:`~tinylidar_gym.sim.errors.UserError` (bad config, refused overwrite, missing
file the user named, ...) prints one ``error: ...`` line and exits 2; a subcommand that ran but
failed (:class:`~experiments.errors.CommandFailed`) prints one line and exits 1; anything else is
a bug and keeps its traceback. ``--debug`` (or ``TINYLIDAR_DEBUG=1``) shows the traceback of
every error.
"""

from __future__ import annotations

import os

# Idle OpenMP threads (numba's parallel vector env, torch) spin by default; on a machine whose
# cores are shared with other jobs that made evaluation many times slower. Set before any import
# that starts an OpenMP runtime; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import contextlib  # noqa: E402
import importlib  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any, NoReturn  # noqa: E402

PROG = "experiment-runner"

# name -> (module under experiments/, one-line summary for the top-level help). The summaries
# are the first lines of the modules' docstrings (a test keeps them equal) so that --help needs
# no import.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "pipeline": (
        "pipeline",
        "The whole flow on a small default: collect, summarize, extract, train-bc, evaluate.",
    ),
    "drive": (
        "drive",
        "Drive a few episodes of TinyLidar-v0 with a built-in driver and save a picture of the "
        "last.",
    ),
    "collect": (
        "collect",
        "Collect expert episodes in parallel: one directory per seed with MCAP, config and result.",
    ),
    "summarize": (
        "summarize",
        "Summarise a run: success rate, failure reasons, metric means, aggregated_results.csv.",
    ),
    "extract": (
        "extract",
        "Extract successful train episodes into a dataset: scans paired with commands, stats.json.",
    ),
    "import-bag": (
        "import_bag",
        "Import ROS 2 bag recordings (MCAP) from a real car into a training dataset.",
    ),
    "train-bc": (
        "train_bc",
        "Train Tiny Lidar Net by behavioural cloning (imitation's BC) on an extracted dataset.",
    ),
    "train-dagger": (
        "train_dagger",
        "Train Tiny Lidar Net with DAgger: the learner drives, the privileged expert labels.",
    ),
    "train-rl": (
        "train_rl",
        "Fine-tune Tiny Lidar Net with PPO (stable-baselines3) on the native vector env.",
    ),
    "evaluate": (
        "evaluate",
        "Evaluate a trained model (or the expert) on any course, expert side by side.",
    ),
    "report": (
        "report",
        "Write a static HTML report of a run: PNG plots and a table linking every episode's MCAP.",
    ),
}

DEBUG_FLAG = "--debug"
DEBUG_ENV = "TINYLIDAR_DEBUG"

USER_ERROR_EXIT = 2
"""Exit status of a user error (as for a command-line parse error)."""
FAILED_EXIT = 1
"""Exit status of a subcommand that ran but failed (e.g. seeds that crashed)."""


def usage() -> str:
    """The top-level help text: the subcommands and their one-line summaries."""
    width = max(map(len, SUBCOMMANDS))
    lines = [
        f"usage: {PROG} [--debug] {{{','.join(SUBCOMMANDS)}}} [OPTIONS]",
        "",
        f"One subcommand per step of the flow; `{PROG} SUBCOMMAND --help` for its options.",
        "",
        "subcommands:",
        *(f"  {name:<{width}}  {summary}" for name, (_, summary) in SUBCOMMANDS.items()),
        "",
        "options:",
        "  -h, --help  show this help and exit",
        f"  {DEBUG_FLAG}     show the traceback of every error (also {DEBUG_ENV}=1)",
    ]
    return "\n".join(lines)


def _usage_error(message: str) -> NoReturn:
    print(usage().splitlines()[0], file=sys.stderr)
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(USER_ERROR_EXIT)


def subcommand_module(name: str) -> Any:
    """The ``experiments`` module of subcommand ``name`` (imported now, on first use)."""
    return importlib.import_module(f"experiments.{SUBCOMMANDS[name][0]}")


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions printed as one line: the user's to fix (paths the user gave included)."""
    from tinylidar_gym.sim.errors import UserError

    return (UserError, FileNotFoundError, FileExistsError, NotADirectoryError)


def _run(name: str, argv: list[str]) -> Any:
    import tyro

    module = subcommand_module(name)
    with _config_errors_as_user_errors():
        args = tyro.cli(module.Args, args=argv, prog=f"{PROG} {name}", description=module.__doc__)
    return module.run(args)


@contextlib.contextmanager
def _config_errors_as_user_errors() -> Iterator[None]:
    """A config value its dataclass refuses (e.g. ``--bc.epochs 0``) becomes a :class:`UserError`
    printed as one line, like every other user error, instead of tyro's multi-line box.

    tyro's parse-error hook is experimental API; where a tyro release lacks it, its own box
    (which names the flag too, exit status 2) is what the user sees.
    """
    from tinylidar_gym.sim.errors import UserError

    errors = getattr(importlib.import_module("tyro"), "_errors", None)
    failure = getattr(errors, "InstantiationFailure", None)
    on_parse_error = getattr(errors, "on_parse_error", None)
    if failure is None or on_parse_error is None:
        yield
        return

    def hook(event: Any) -> None:
        if isinstance(event, failure):
            message = str(getattr(event, "message", "") or "invalid configuration")
            raise UserError(message.split(": ", 1)[-1] if "Error parsing" in message else message)

    with on_parse_error(hook):
        yield


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (default: the command line) and run the subcommand.

    Returns None (the console script's exit status 0) on success; raises ``SystemExit`` 2 for a
    usage or user error and 1 for a subcommand that failed.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    argv = [a for a in argv if a != DEBUG_FLAG]
    if not argv or argv[0] in ("-h", "--help"):
        if not argv:
            _usage_error("a subcommand is required")
        print(usage())
        return
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        import difflib

        close = difflib.get_close_matches(name, SUBCOMMANDS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"choose one of {', '.join(SUBCOMMANDS)}"
        _usage_error(f"unknown subcommand {name!r} ({hint})")
    from experiments.errors import CommandFailed

    try:
        _run(name, rest)
    except CommandFailed as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(FAILED_EXIT) from None
    except _user_errors() as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(USER_ERROR_EXIT) from None


if __name__ == "__main__":
    main()
