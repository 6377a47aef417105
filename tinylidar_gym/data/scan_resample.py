"""Bring real LiDAR scans onto the simulator's beam grid: range cleaning and angle resampling.

Range cleaning (ROS REP 117 semantics) maps each raw reading to metres the simulator could have
produced:

- ``+inf``, ``NaN`` (no return / no valid measurement) read ``max_range_m``;
- finite readings outside the message's ``[range_min, range_max]`` are invalid and read
  ``max_range_m`` too (drivers report "nothing there" that way);
- ``-inf`` (object closer than the sensor can measure) reads the message's ``range_min``;
- everything is finally clipped to ``[0, max_range_m]`` of the target LiDAR.

Resampling: beam ``i`` of a source scan points at ``angle_min + i * angle_increment``; beam ``j``
of the target :class:`~tinylidar_gym.sim.config.LidarConfig` at its own ``angle_min_rad + j *
angle_increment_rad``. When the two grids agree (same count, every angle within 1 % of a beam
spacing) the ranges are copied unchanged. Otherwise each target range is the **linear
interpolation in angle between the two neighbouring source beams** (so a range profile that is
linear in angle is reproduced exactly). Target beams up to half a source spacing beyond the first
or last source beam take that edge beam's range; target beams further out are outside the
scanner's field of view and, by ``outside_fov``, raise an error (``"error"``, the default), repeat
the edge beam (``"edge"``) or read ``max_range_m`` (``"max-range"``, i.e. no return). A source
scan with a negative increment (scanner mounted upside down) is flipped first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tinylidar_gym.sim.config import LidarConfig
from tinylidar_gym.sim.errors import UserError

OutsideFov = Literal["error", "edge", "max-range"]

_SAME_GRID_TOL = 0.01
"""Grids whose angles differ by less than this share of a beam spacing count as identical."""
_EDGE_TOL = 0.5
"""Target beams within this many source spacings beyond the source FOV take the edge beam."""


class ScanGridError(UserError, ValueError):
    """The source scans cannot be mapped onto the target LiDAR grid (names the fix)."""


@dataclass(frozen=True)
class ScanGrid:
    """Beam angles of a scanner: beam ``i`` points at ``angle_min_rad + i * angle_increment_rad``
    (ROS ``LaserScan`` convention, radians, counter-clockwise from the vehicle heading)."""

    n_beams: int
    angle_min_rad: float
    angle_increment_rad: float

    @classmethod
    def of(cls, lidar: LidarConfig) -> ScanGrid:
        """The grid of a simulated LiDAR."""
        return cls(lidar.n_beams, lidar.angle_min_rad, lidar.angle_increment_rad)

    @property
    def angle_max_rad(self) -> float:
        return self.angle_min_rad + (self.n_beams - 1) * self.angle_increment_rad

    def angles(self) -> np.ndarray:
        """(n_beams,) float64 beam angles, rad."""
        return self.angle_min_rad + np.arange(self.n_beams) * self.angle_increment_rad


def clean_ranges(
    ranges: np.ndarray, range_min_m: np.ndarray, range_max_m: np.ndarray, max_range_m: float
) -> tuple[np.ndarray, dict[str, int]]:
    """Apply the range-cleaning rule of this module.

    Args:
        ranges: (T, n) raw readings, m (may hold inf/NaN).
        range_min_m: (T,) each message's ``range_min``.
        range_max_m: (T,) each message's ``range_max``.
        max_range_m: the target LiDAR's maximum range.

    Returns:
        (T, n) float32 ranges in ``[0, max_range_m]`` and counts of the readings replaced
        (``nan``, ``pos_inf``, ``neg_inf``, ``above_range_max``, ``below_range_min``).
    """
    r = np.asarray(ranges, dtype=np.float32)
    lo = np.asarray(range_min_m, dtype=np.float32)[:, None]
    hi = np.asarray(range_max_m, dtype=np.float32)[:, None]
    nan = np.isnan(r)
    pos_inf = np.isposinf(r)
    neg_inf = np.isneginf(r)
    finite = np.isfinite(r)
    above = finite & (r > hi)
    below = finite & (r < lo)
    out = np.where(nan | pos_inf | above | below, np.float32(max_range_m), r)
    out = np.where(neg_inf, np.broadcast_to(lo, r.shape), out)
    out = np.clip(out, 0.0, max_range_m).astype(np.float32)
    counts = {
        "nan": int(nan.sum()),
        "pos_inf": int(pos_inf.sum()),
        "neg_inf": int(neg_inf.sum()),
        "above_range_max": int(above.sum()),
        "below_range_min": int(below.sum()),
    }
    return out, counts


class BeamResampler:
    """Maps (T, source.n_beams) scans onto the target LiDAR's beams by the module's rule.

    Attributes:
        identical: the grids agree; scans are copied unchanged.
        description: one line saying what is done (printed and recorded in ``stats.json``).
    """

    def __init__(
        self,
        source: ScanGrid,
        target: LidarConfig,
        outside_fov: OutsideFov = "error",
    ) -> None:
        if outside_fov not in ("error", "edge", "max-range"):
            raise ValueError(f"outside_fov={outside_fov!r}; use 'error', 'edge' or 'max-range'.")
        if source.n_beams < 2 or not (
            math.isfinite(source.angle_min_rad)
            and math.isfinite(source.angle_increment_rad)
            and source.angle_increment_rad != 0
        ):
            raise ScanGridError(
                f"the source scans have {source.n_beams} beams, angle_min "
                f"{source.angle_min_rad}, angle_increment {source.angle_increment_rad}: need at "
                "least 2 beams and a finite, non-zero angle_increment."
            )
        self.source, self.target, self.outside_fov = source, target, outside_fov
        self.flip = source.angle_increment_rad < 0
        if self.flip:
            source = ScanGrid(source.n_beams, source.angle_max_rad, -source.angle_increment_rad)
        self._grid = source
        tgt = ScanGrid.of(target)
        src_a, tgt_a = source.angles(), tgt.angles()
        tol = _SAME_GRID_TOL * tgt.angle_increment_rad
        self.identical = source.n_beams == tgt.n_beams and bool(
            np.all(np.abs(src_a - tgt_a) <= tol)
        )
        # Fractional source index of every target beam.
        pos = (tgt_a - source.angle_min_rad) / source.angle_increment_rad
        last = source.n_beams - 1
        self.outside = (pos < -_EDGE_TOL) | (pos > last + _EDGE_TOL)
        n_out = int(self.outside.sum())
        span = (
            f"the scans cover [{math.degrees(source.angle_min_rad):+.2f}, "
            f"{math.degrees(source.angle_max_rad):+.2f}] deg with {source.n_beams} beams; the "
            f"target LiDAR needs [{math.degrees(tgt.angle_min_rad):+.2f}, "
            f"{math.degrees(tgt.angle_max_rad):+.2f}] deg with {tgt.n_beams} beams"
        )
        if n_out and outside_fov == "error":
            raise ScanGridError(
                f"{span}: {n_out} target beams lie outside the scanner's field of view. Match "
                "the target to the car (--env.lidar.n-beams / --env.lidar.fov-deg) or opt in to "
                "filling them: --ros2.outside-fov edge (repeat the edge beam) or max-range (read "
                "as no return)."
            )
        pos = np.clip(pos, 0.0, last)
        self._k = np.minimum(np.floor(pos).astype(np.int64), last - 1)
        self._w = pos - self._k
        flipped = ", flipped (negative angle_increment)" if self.flip else ""
        if self.identical:
            self.description = f"{source.n_beams} beams on the target grid: copied unchanged"
        else:
            fill = f"; {n_out} beams outside the scanner FOV filled by '{outside_fov}'"
            self.description = (
                f"resampled {source.n_beams}→{tgt.n_beams} beams by linear interpolation in "
                f"angle ({span}){fill if n_out else ''}"
            )
        self.description += flipped

    def __call__(self, ranges: np.ndarray) -> np.ndarray:
        """(T, source.n_beams) ranges, m -> (T, target.n_beams) float32 ranges, m."""
        r = np.asarray(ranges, dtype=np.float32)
        if r.ndim != 2 or r.shape[1] != self.source.n_beams:
            raise ValueError(f"expected (T, {self.source.n_beams}) ranges, got {r.shape}.")
        if self.flip:
            r = r[:, ::-1]
        if self.identical:
            return np.ascontiguousarray(r, dtype=np.float32)
        r64 = r.astype(np.float64)
        out = r64[:, self._k] * (1.0 - self._w) + r64[:, self._k + 1] * self._w
        if self.outside_fov == "max-range":
            out[:, self.outside] = self.target.max_range_m
        return out.astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """What ``stats.json`` records about the mapping."""
        return {
            "source_beams": self.source.n_beams,
            "source_angle_min_rad": self.source.angle_min_rad,
            "source_angle_increment_rad": self.source.angle_increment_rad,
            "target_beams": self.target.n_beams,
            "resampled": not self.identical,
            "beams_outside_fov": int(self.outside.sum()),
            "outside_fov": self.outside_fov,
            "description": self.description,
        }
