"""Typed, validated configuration for the simulator and the environment.

One frozen dataclass per concept. The same dataclasses are the CLI flags (tyro) and what an
episode's ``config.yaml`` holds, so every field has a unit in its name and a one-line docstring.
Invalid values raise :class:`ConfigError` naming the field and the accepted range.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from tinylidar_gym.sim.errors import UserError


class ConfigError(UserError, ValueError):
    """A configuration value is invalid; the message names the field and how to fix it."""


def _check(cond: bool, cls: str, name: str, value: Any, rule: str) -> None:
    if not cond:
        raise ConfigError(f"{cls}.{name}={value!r} is invalid: must be {rule}.")


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_positive(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        _check(
            _is_number(value) and math.isfinite(value) and value > 0,
            type(obj).__name__,
            name,
            value,
            "a finite number > 0",
        )


def _check_non_negative(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        _check(
            _is_number(value) and math.isfinite(value) and value >= 0,
            type(obj).__name__,
            name,
            value,
            "a finite number >= 0",
        )


@dataclass(frozen=True)
class VehicleConfig:
    """Kinematic bicycle with actuator limits. The reference point is the rear axle centre."""

    wheelbase_m: float = 0.33
    """Distance between rear and front axle."""
    length_m: float = 0.58
    """Footprint length (bumper to bumper)."""
    width_m: float = 0.31
    """Footprint width."""
    rear_overhang_m: float = 0.125
    """Distance from the rear bumper to the rear axle."""
    max_steer_rad: float = 0.4189
    """Steering angle limit (symmetric)."""
    max_steer_rate_radps: float = 3.2
    """Steering rate limit."""
    steer_dead_time_s: float = 0.0
    """Pure delay between a steering command and the actuator reacting."""
    steer_lag_tau_s: float = 0.0
    """First-order lag time constant of the steering actuator (0 = none)."""
    max_accel_mps2: float = 9.51
    """Acceleration limit."""
    max_decel_mps2: float = 9.51
    """Braking limit (positive number)."""
    max_speed_mps: float = 20.0
    """Forward speed limit."""
    min_speed_mps: float = -5.0
    """Reverse speed limit (negative or zero)."""

    def __post_init__(self) -> None:
        _check_positive(
            self,
            "wheelbase_m",
            "length_m",
            "width_m",
            "max_steer_rad",
            "max_steer_rate_radps",
            "max_accel_mps2",
            "max_decel_mps2",
            "max_speed_mps",
        )
        _check_non_negative(self, "rear_overhang_m", "steer_dead_time_s", "steer_lag_tau_s")
        name = type(self).__name__
        _check(
            _is_number(self.min_speed_mps)
            and math.isfinite(self.min_speed_mps)
            and self.min_speed_mps <= 0,
            name,
            "min_speed_mps",
            self.min_speed_mps,
            "a finite number <= 0",
        )
        _check(
            self.max_steer_rad < math.pi / 2,
            name,
            "max_steer_rad",
            self.max_steer_rad,
            "< pi/2",
        )
        _check(
            self.rear_overhang_m < self.length_m,
            name,
            "rear_overhang_m",
            self.rear_overhang_m,
            f"< length_m ({self.length_m})",
        )

    @property
    def min_turning_radius_m(self) -> float:
        """Turning radius of the rear axle at full steering lock."""
        return self.wheelbase_m / math.tan(self.max_steer_rad)


@dataclass(frozen=True)
class LidarConfig:
    """A planar scanner. Beam 0 points to the right (-fov/2); angles grow counter-clockwise."""

    n_beams: int = 1081
    """Number of beams (Hokuyo UST-10LX: 1081 over 270 deg, 0.25 deg apart)."""
    fov_deg: float = 270.0
    """Field of view, centred on the vehicle heading."""
    max_range_m: float = 30.0
    """Ranges beyond this (or with no hit) read max_range_m."""
    noise_std_m: float = 0.0
    """Standard deviation of additive Gaussian range noise (drawn from the env's seed)."""
    mount_offset_m: float = 0.275
    """Sensor position ahead of the rear axle along the vehicle axis."""

    def __post_init__(self) -> None:
        name = type(self).__name__
        _check(
            _is_int(self.n_beams) and self.n_beams >= 2,
            name,
            "n_beams",
            self.n_beams,
            "an integer >= 2",
        )
        _check_positive(self, "fov_deg", "max_range_m")
        _check(self.fov_deg <= 360.0, name, "fov_deg", self.fov_deg, "in (0, 360]")
        _check_non_negative(self, "noise_std_m")
        _check(
            math.isfinite(self.mount_offset_m),
            name,
            "mount_offset_m",
            self.mount_offset_m,
            "finite",
        )

    @property
    def angle_min_rad(self) -> float:
        """Angle of beam 0 relative to the heading (ROS LaserScan ``angle_min``)."""
        return -math.radians(self.fov_deg) / 2.0

    @property
    def angle_increment_rad(self) -> float:
        """Angle between neighbouring beams (ROS LaserScan ``angle_increment``)."""
        span = math.radians(self.fov_deg)
        # A full circle must not repeat its first beam at +pi.
        steps = self.n_beams if self.fov_deg >= 360.0 else self.n_beams - 1
        return span / steps

    @property
    def angle_max_rad(self) -> float:
        """Angle of the last beam relative to the heading (ROS LaserScan ``angle_max``)."""
        return self.angle_min_rad + (self.n_beams - 1) * self.angle_increment_rad


CourseKind = Literal["default", "procedural", "map", "family"]
WallKind = Literal["curves", "grid"]


def _check_range(obj: Any, name: str, low: float, high: float) -> None:
    """``obj.name`` is a (min, max) pair with low <= min <= max <= high."""
    pair = getattr(obj, name)
    _check(
        isinstance(pair, tuple | list)
        and len(pair) == 2
        and all(map(_is_number, pair))
        and low <= pair[0] <= pair[1] <= high,
        type(obj).__name__,
        name,
        pair,
        f"a (min, max) pair with {low} <= min <= max <= {high}",
    )


@dataclass(frozen=True)
class FamilyConfig:
    """The race-track family (``CourseConfig.kind='family'``): laps of straights, corners,
    hairpins and chicanes like scaled F1 circuits, one course per seed."""

    length_range_m: tuple[float, float] = (150.0, 600.0)
    """Lap length, drawn uniformly from this range."""
    half_width_range_m: tuple[float, float] = (0.9, 1.5)
    """Distance from the centerline to each wall; varies along the lap within this range."""
    min_radius_m: float = 1.3
    """Tightest centerline radius (hairpins); at least 1.3 x the car's turning radius."""
    corner_spacing_m: float = 25.0
    """Mean lap length per corner (a chicane counts as one)."""
    hairpin_share: float = 0.25
    """Share of corners that are hairpins (150-190 deg, radius min_radius_m to 3 m)."""
    chicane_share: float = 0.2
    """Share of corners that are chicanes (two opposite bends back to back)."""
    long_straight_share: float = 0.15
    """Share of straights that are long (20-45 m; the others are 2-12 m)."""
    walls: WallKind = "curves"
    """'curves': walls are offset curves of the centerline; 'grid': walls are the cell edges of
    an occupancy grid rasterised from the corridor (like a map)."""
    grid_resolution_m: float = 0.05
    """Cell size of the occupancy grid when walls='grid'."""
    point_spacing_m: float = 0.25
    """Centerline resampling distance (fine enough for the hairpins)."""

    def __post_init__(self) -> None:
        name = type(self).__name__
        _check_range(self, "length_range_m", 20.0, 5000.0)
        _check_range(self, "half_width_range_m", 0.1, 20.0)
        _check_positive(self, "min_radius_m", "corner_spacing_m", "grid_resolution_m")
        _check_positive(self, "point_spacing_m")
        for share in ("hairpin_share", "chicane_share", "long_straight_share"):
            value = getattr(self, share)
            _check(_is_number(value) and 0 <= value <= 1, name, share, value, "in [0, 1]")
        _check(
            self.hairpin_share + self.chicane_share <= 1.0,
            name,
            "chicane_share",
            self.chicane_share,
            f"<= 1 - hairpin_share ({1 - self.hairpin_share})",
        )
        _check(self.walls in ("curves", "grid"), name, "walls", self.walls, "'curves' or 'grid'")
        _check(
            self.min_radius_m > self.half_width_range_m[0],
            name,
            "min_radius_m",
            self.min_radius_m,
            f"> the smallest half width ({self.half_width_range_m[0]}) so inner walls never fold",
        )


@dataclass(frozen=True)
class CourseConfig:
    """The closed-loop corridor the car races on."""

    kind: CourseKind = "default"
    """'default' (fixed built-in loop), 'procedural' (90 m loops drawn from a seed), 'family'
    (race tracks drawn from a seed, see ``family``) or 'map' (F1TENTH map)."""
    seed: int | None = None
    """Procedural/family courses: fixed course seed; None draws a new course from each episode
    seed (so disjoint seed splits give disjoint courses)."""
    family: FamilyConfig = field(default_factory=FamilyConfig)
    """Family courses: the family's parameters."""
    length_m: float = 90.0
    """Procedural/default courses: approximate centerline length."""
    half_width_m: float = 1.3
    """Procedural/default courses: mean distance from the centerline to each wall."""
    width_variation: float = 0.25
    """Procedural courses: relative variation of the half width along the course (0..0.9)."""
    curviness: float = 0.5
    """Procedural courses: amount of curvature, 0 (circle-like) to 1 (twisty)."""
    point_spacing_m: float = 0.5
    """Centerline resampling distance; walls are made of segments this long (family courses
    use ``family.point_spacing_m``)."""
    map_yaml: str | None = None
    """Map courses: path to the F1TENTH map YAML (image, resolution, origin, thresholds)."""
    centerline_csv: str | None = None
    """Map courses: centerline CSV (x_m, y_m, w_tr_right_m, w_tr_left_m); optional."""
    reverse: bool = False
    """Drive the course in the opposite direction."""

    def __post_init__(self) -> None:
        name = type(self).__name__
        _check(
            self.kind in ("default", "procedural", "map", "family"),
            name,
            "kind",
            self.kind,
            "one of 'default', 'procedural', 'map', 'family'",
        )
        _check_positive(self, "length_m", "half_width_m", "point_spacing_m")
        _check(
            0.0 <= self.width_variation <= 0.9,
            name,
            "width_variation",
            self.width_variation,
            "in [0, 0.9]",
        )
        _check(0.0 <= self.curviness <= 1.0, name, "curviness", self.curviness, "in [0, 1]")
        _check(
            self.seed is None or (_is_int(self.seed) and self.seed >= 0),
            name,
            "seed",
            self.seed,
            "None or an integer >= 0",
        )
        _check(
            self.kind != "map" or bool(self.map_yaml),
            name,
            "map_yaml",
            self.map_yaml,
            "a path to a map YAML when kind='map'",
        )
        _check(
            self.length_m >= 20 * self.point_spacing_m,
            name,
            "length_m",
            self.length_m,
            f">= 20 * point_spacing_m ({20 * self.point_spacing_m})",
        )


@dataclass(frozen=True)
class ObstacleConfig:
    """Static rectangular obstacles placed by a seeded generator along the centerline."""

    count: int | None = None
    """Number of obstacles per lap; None places ``per_100m`` per 100 m of lap (rounded)."""
    per_100m: float = 100.0 / 9.0
    """Obstacles per 100 m of lap when ``count`` is None (the default: 10 on a 90 m lap)."""
    length_range_m: tuple[float, float] = (0.4, 0.8)
    """Obstacle extent along the course, drawn uniformly from this range."""
    width_range_m: tuple[float, float] = (0.3, 0.6)
    """Obstacle extent across the course, drawn uniformly from this range."""
    max_lateral_offset_m: float = 1.0
    """Largest distance of an obstacle centre from the centerline."""
    min_spacing_m: float = 5.0
    """Smallest distance along the centerline between two obstacle centres."""
    start_exclusion_m: float = 6.0
    """No obstacle centre within this distance of the start line (either side)."""
    wall_margin_m: float = 0.05
    """Smallest gap between an obstacle and a wall (obstacles stay inside the corridor)."""
    passage_margin_m: float = 0.3
    """The free passage beside each obstacle is at least vehicle width + this."""

    def __post_init__(self) -> None:
        name = type(self).__name__
        _check(
            self.count is None or (_is_int(self.count) and self.count >= 0),
            name,
            "count",
            self.count,
            "None or an integer >= 0",
        )
        _check_non_negative(self, "per_100m")
        for rng_name in ("length_range_m", "width_range_m"):
            pair = getattr(self, rng_name)
            _check(
                isinstance(pair, tuple | list) and len(pair) == 2 and all(map(_is_number, pair)),
                name,
                rng_name,
                pair,
                "a (min, max) pair",
            )
            lo, hi = pair
            _check(
                0 < lo <= hi and math.isfinite(hi),
                name,
                rng_name,
                (lo, hi),
                "(min, max) with 0 < min <= max",
            )
        _check_non_negative(
            self,
            "max_lateral_offset_m",
            "min_spacing_m",
            "start_exclusion_m",
            "wall_margin_m",
            "passage_margin_m",
        )
        _check(
            self.min_spacing_m >= self.length_range_m[1],
            name,
            "min_spacing_m",
            self.min_spacing_m,
            f">= the largest obstacle length ({self.length_range_m[1]})",
        )

    def count_for(self, lap_m: float) -> int:
        """Obstacles on a lap of ``lap_m`` metres: ``count``, or ``per_100m`` scaled to it."""
        if self.count is not None:
            return int(self.count)
        return int(round(self.per_100m * lap_m / 100.0))


@dataclass(frozen=True)
class EnvConfig:
    """Everything that defines an episode apart from its seed."""

    course: CourseConfig = field(default_factory=CourseConfig)
    """The course."""
    obstacles: ObstacleConfig = field(default_factory=ObstacleConfig)
    """The obstacle generator."""
    vehicle: VehicleConfig = field(default_factory=VehicleConfig)
    """The vehicle model."""
    lidar: LidarConfig = field(default_factory=LidarConfig)
    """The LiDAR."""
    control_dt_s: float = 0.025
    """Time per env step (one action, one scan: 40 Hz)."""
    substeps: int = 5
    """Vehicle integration sub-steps per control step (collision checked at each)."""
    min_speed_command_mps: float = 0.0
    """Speed commanded by action[1] = -1."""
    max_speed_command_mps: float = 8.0
    """Speed commanded by action[1] = +1."""
    laps: int = 1
    """Laps to complete for goal_reached."""
    n_checkpoints: int = 10
    """Ordered gates per episode, evenly spaced along the centerline; the last is the finish."""
    max_episode_time_s: float = 60.0
    """Episode is truncated with reason 'timeout' after this much simulated time (on a lap of
    up to ``time_limit_lap_m``; longer laps get proportionally more, see ``time_limit_s``)."""
    time_limit_lap_m: float = 90.0
    """Lap length that ``max_episode_time_s`` is meant for."""
    stuck_time_s: float = 3.0
    """Episode ends with reason 'stuck' when best progress has not grown for this long."""
    stuck_min_progress_m: float = 0.1
    """Progress gain that counts as 'not stuck'."""
    progress_reward_per_m: float = 1.0
    """Reward per metre of progress along the centerline (negative when driving backwards)."""
    collision_penalty: float = 10.0
    """Subtracted from the reward on the step that collides."""
    goal_bonus: float = 0.0
    """Added to the reward on the step that reaches the goal."""

    def __post_init__(self) -> None:
        name = type(self).__name__
        _check_positive(
            self, "control_dt_s", "max_episode_time_s", "time_limit_lap_m", "stuck_time_s"
        )
        _check_non_negative(self, "stuck_min_progress_m", "collision_penalty", "goal_bonus")
        for int_name, low in (("substeps", 1), ("laps", 1), ("n_checkpoints", 1)):
            value = getattr(self, int_name)
            _check(
                _is_int(value) and value >= low,
                name,
                int_name,
                value,
                f"an integer >= {low}",
            )
        v = self.vehicle
        for spd in ("min_speed_command_mps", "max_speed_command_mps"):
            value = getattr(self, spd)
            _check(
                v.min_speed_mps <= value <= v.max_speed_mps,
                name,
                spd,
                value,
                f"within the vehicle limits [{v.min_speed_mps}, {v.max_speed_mps}]",
            )
        _check(
            self.min_speed_command_mps < self.max_speed_command_mps,
            name,
            "max_speed_command_mps",
            self.max_speed_command_mps,
            f"> min_speed_command_mps ({self.min_speed_command_mps})",
        )
        _check(
            math.isfinite(self.progress_reward_per_m),
            name,
            "progress_reward_per_m",
            self.progress_reward_per_m,
            "finite",
        )

    def time_limit_s(self, lap_m: float) -> float:
        """Episode time limit on a lap of ``lap_m`` metres: ``max_episode_time_s``, scaled up
        in proportion for laps longer than ``time_limit_lap_m``."""
        return self.max_episode_time_s * max(1.0, lap_m / self.time_limit_lap_m)

    @property
    def substep_dt_s(self) -> float:
        """Integration step of the vehicle model."""
        return self.control_dt_s / self.substeps


# --------------------------------------------------------------------------- presets


def f1tenth_preset() -> EnvConfig:
    """1/10-scale F1TENTH car on a 2.6 m wide course with 10 box obstacles (the default)."""
    return EnvConfig()


def kart_preset() -> EnvConfig:
    """Kart-scale car (system-identified AI-challenge kart) on a wider, longer course."""
    return EnvConfig(
        course=CourseConfig(length_m=400.0, half_width_m=4.5, point_spacing_m=1.0),
        obstacles=ObstacleConfig(
            count=10,
            length_range_m=(2.0, 2.6),
            width_range_m=(1.3, 1.6),
            max_lateral_offset_m=3.0,
            min_spacing_m=10.0,
            start_exclusion_m=10.0,
            wall_margin_m=0.2,
            passage_margin_m=0.8,
        ),
        vehicle=VehicleConfig(
            wheelbase_m=1.087,
            length_m=1.9,
            width_m=1.30,
            rear_overhang_m=0.4,
            max_steer_rad=0.367,
            max_steer_rate_radps=0.9366,
            steer_dead_time_s=0.3644,
            steer_lag_tau_s=0.146,
            max_accel_mps2=3.0,
            max_decel_mps2=5.0,
            max_speed_mps=15.0,
            min_speed_mps=-2.0,
        ),
        lidar=LidarConfig(mount_offset_m=1.5),
        control_dt_s=0.02,
        substeps=2,
        max_speed_command_mps=10.0,
        max_episode_time_s=200.0,
        time_limit_lap_m=400.0,
    )


PRESETS = {"f1tenth": f1tenth_preset, "kart": kart_preset}


# --------------------------------------------------------------------------- (de)serialisation

T = TypeVar("T")


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A plain-dict (YAML/JSON-ready) view of a config dataclass; tuples become lists."""

    def convert(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple | list):
            return [convert(v) for v in value]
        return value

    return convert(cfg)


def config_from_dict(cls: type[T], data: dict[str, Any] | T) -> T:
    """Build ``cls`` from a (possibly partial, possibly nested) dict; unknown keys are errors."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} expects a mapping, got {type(data).__name__}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"{cls.__name__} has no field '{key}'.{hint} Valid fields: {', '.join(fields)}."
            )
        default = fields[key].default_factory  # type: ignore[misc]
        if dataclasses.is_dataclass(default) or (
            callable(default) and isinstance(default, type) and dataclasses.is_dataclass(default)
        ):
            value = config_from_dict(default, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def with_overrides(cfg: EnvConfig, **overrides: Any) -> EnvConfig:
    """Return ``cfg`` with top-level fields replaced; nested configs may be given as dicts."""
    merged = config_to_dict(cfg)
    for key, value in overrides.items():
        if dataclasses.is_dataclass(value):
            value = config_to_dict(value)
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return config_from_dict(EnvConfig, merged)
