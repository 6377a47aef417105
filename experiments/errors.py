"""What a subcommand raises when the user's input is wrong or when its work failed.

The ``experiment-runner`` handler prints either as one ``error: ...`` line: a
:class:`~tinylidar_gym.sim.errors.UserError` exits 2, a :class:`CommandFailed` exits 1.
"""

from __future__ import annotations

from tinylidar_gym.sim.errors import UserError


class CommandFailed(Exception):
    """The subcommand ran but did not do what was asked (e.g. episodes that crashed); the message
    says what failed and where to look."""


class RunNameError(UserError, ValueError):
    """A ``--run-name`` that is not a plain directory name."""


def check_run_name(name: str | None) -> str | None:
    """``name`` unchanged if it is a plain directory name (or None); else :class:`RunNameError`.

    A run name becomes one directory under ``--out``: a path separator or ``..`` would write
    somewhere else.
    """
    if name is None:
        return None
    if not name or name in (".", "..") or "/" in name or "\\" in name or ".." in name:
        raise RunNameError(
            f"--run-name {name!r} is not a plain directory name (use a name without '/', '\\' "
            "or '..'; --out chooses the parent directory)"
        )
    return name
