"""Validation of trainer configs: each bad value is a ConfigError naming its command-line flag."""

from __future__ import annotations

import math
from typing import Any

from tinylidar_gym.sim.config import ConfigError


def require(ok: bool, flag: str, value: Any, rule: str) -> None:
    """Raise :class:`ConfigError` for ``--<flag> <value>`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"--{flag.replace('_', '-')} {value!r} is invalid (give {rule})")


def check_fields(cfg: Any, prefix: str, rules: dict[str, tuple[Any, str]]) -> None:
    """Check each field ``name`` of ``cfg`` with ``rules[name] = (predicate, rule text)``."""
    for name, (ok, rule) in rules.items():
        value = getattr(cfg, name)
        require(bool(ok(value)), f"{prefix}.{name}", value, rule)


def positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def non_negative_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def positive(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def non_negative(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


POSITIVE_INT = (positive_int, "an integer >= 1")
NON_NEGATIVE_INT = (non_negative_int, "an integer >= 0")
POSITIVE = (positive, "a number > 0")
NON_NEGATIVE = (non_negative, "a number >= 0")
THREADS = (non_negative_int, "an integer >= 0; 0 uses all cores")


def optional(check: tuple[Any, str]) -> tuple[Any, str]:
    """``check`` that also accepts None (a field whose default depends on something else)."""
    ok, rule = check
    return (lambda v: v is None or ok(v), f"{rule}, or leave out")
