"""Tests of tinylidar_gym/sim/config.py: validation, presets, (de)serialisation, overrides."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import yaml

from tinylidar_gym.sim.config import (
    PRESETS,
    ConfigError,
    CourseConfig,
    EnvConfig,
    FamilyConfig,
    LidarConfig,
    ObstacleConfig,
    VehicleConfig,
    config_from_dict,
    config_to_dict,
    f1tenth_preset,
    kart_preset,
    with_overrides,
)
from tinylidar_gym.sim.lidar import beam_angles

NAN = float("nan")
INF = float("inf")

# (config class, bad keyword arguments, field the error must name)
BAD_VALUES = [
    # VehicleConfig
    (VehicleConfig, {"wheelbase_m": 0.0}, "wheelbase_m"),
    (VehicleConfig, {"wheelbase_m": -0.3}, "wheelbase_m"),
    (VehicleConfig, {"wheelbase_m": NAN}, "wheelbase_m"),
    (VehicleConfig, {"length_m": INF}, "length_m"),
    (VehicleConfig, {"width_m": 0.0}, "width_m"),
    (VehicleConfig, {"max_steer_rad": 0.0}, "max_steer_rad"),
    (VehicleConfig, {"max_steer_rad": math.pi / 2}, "max_steer_rad"),
    (VehicleConfig, {"max_steer_rate_radps": -1.0}, "max_steer_rate_radps"),
    (VehicleConfig, {"max_accel_mps2": 0.0}, "max_accel_mps2"),
    (VehicleConfig, {"max_decel_mps2": -9.0}, "max_decel_mps2"),
    (VehicleConfig, {"max_speed_mps": 0.0}, "max_speed_mps"),
    (VehicleConfig, {"max_speed_mps": "fast"}, "max_speed_mps"),
    (VehicleConfig, {"rear_overhang_m": -0.1}, "rear_overhang_m"),
    (VehicleConfig, {"rear_overhang_m": 0.58}, "rear_overhang_m"),
    (VehicleConfig, {"steer_dead_time_s": -0.01}, "steer_dead_time_s"),
    (VehicleConfig, {"steer_lag_tau_s": NAN}, "steer_lag_tau_s"),
    (VehicleConfig, {"min_speed_mps": 0.5}, "min_speed_mps"),
    (VehicleConfig, {"min_speed_mps": NAN}, "min_speed_mps"),
    (VehicleConfig, {"min_speed_mps": -INF}, "min_speed_mps"),
    # LidarConfig
    (LidarConfig, {"n_beams": 0}, "n_beams"),
    (LidarConfig, {"n_beams": 1}, "n_beams"),
    (LidarConfig, {"n_beams": 100.0}, "n_beams"),
    (LidarConfig, {"fov_deg": 0.0}, "fov_deg"),
    (LidarConfig, {"fov_deg": 360.5}, "fov_deg"),
    (LidarConfig, {"fov_deg": NAN}, "fov_deg"),
    (LidarConfig, {"max_range_m": 0.0}, "max_range_m"),
    (LidarConfig, {"max_range_m": INF}, "max_range_m"),
    (LidarConfig, {"noise_std_m": -0.01}, "noise_std_m"),
    (LidarConfig, {"mount_offset_m": NAN}, "mount_offset_m"),
    (LidarConfig, {"mount_offset_m": INF}, "mount_offset_m"),
    # CourseConfig
    (CourseConfig, {"kind": "oval"}, "kind"),
    (CourseConfig, {"length_m": 0.0}, "length_m"),
    (CourseConfig, {"length_m": 9.0}, "length_m"),  # < 20 * point_spacing_m
    (CourseConfig, {"half_width_m": -1.0}, "half_width_m"),
    (CourseConfig, {"width_variation": -0.1}, "width_variation"),
    (CourseConfig, {"width_variation": 0.95}, "width_variation"),
    (CourseConfig, {"curviness": 1.5}, "curviness"),
    (CourseConfig, {"curviness": NAN}, "curviness"),
    (CourseConfig, {"point_spacing_m": 0.0}, "point_spacing_m"),
    (CourseConfig, {"kind": "map"}, "map_yaml"),
    # ObstacleConfig
    (ObstacleConfig, {"count": -1}, "count"),
    (ObstacleConfig, {"count": 2.5}, "count"),
    (ObstacleConfig, {"length_range_m": (0.0, 0.5)}, "length_range_m"),
    (ObstacleConfig, {"length_range_m": (0.8, 0.4)}, "length_range_m"),
    (ObstacleConfig, {"length_range_m": (0.4, INF)}, "length_range_m"),
    (ObstacleConfig, {"length_range_m": (0.4,)}, "length_range_m"),
    (ObstacleConfig, {"width_range_m": (-0.3, 0.6)}, "width_range_m"),
    (ObstacleConfig, {"width_range_m": (NAN, 0.6)}, "width_range_m"),
    (ObstacleConfig, {"max_lateral_offset_m": -1.0}, "max_lateral_offset_m"),
    (ObstacleConfig, {"min_spacing_m": 0.5}, "min_spacing_m"),  # < largest obstacle length
    (ObstacleConfig, {"start_exclusion_m": -2.0}, "start_exclusion_m"),
    (ObstacleConfig, {"wall_margin_m": NAN}, "wall_margin_m"),
    (ObstacleConfig, {"passage_margin_m": -0.3}, "passage_margin_m"),
    (ObstacleConfig, {"per_100m": -1.0}, "per_100m"),
    # FamilyConfig
    (FamilyConfig, {"length_range_m": (300.0, 150.0)}, "length_range_m"),
    (FamilyConfig, {"half_width_range_m": (0.0, 1.5)}, "half_width_range_m"),
    (FamilyConfig, {"min_radius_m": 0.8}, "min_radius_m"),  # <= smallest half width
    (FamilyConfig, {"corner_spacing_m": 0.0}, "corner_spacing_m"),
    (FamilyConfig, {"hairpin_share": 1.5}, "hairpin_share"),
    (FamilyConfig, {"chicane_share": 0.9}, "chicane_share"),  # + hairpin_share > 1
    (FamilyConfig, {"long_straight_share": -0.1}, "long_straight_share"),
    (FamilyConfig, {"walls": "bricks"}, "walls"),
    (FamilyConfig, {"grid_resolution_m": 0.0}, "grid_resolution_m"),
    (FamilyConfig, {"point_spacing_m": NAN}, "point_spacing_m"),
    # EnvConfig
    (EnvConfig, {"control_dt_s": 0.0}, "control_dt_s"),
    (EnvConfig, {"max_episode_time_s": -5.0}, "max_episode_time_s"),
    (EnvConfig, {"time_limit_lap_m": 0.0}, "time_limit_lap_m"),
    (EnvConfig, {"stuck_time_s": 0.0}, "stuck_time_s"),
    (EnvConfig, {"stuck_min_progress_m": -0.1}, "stuck_min_progress_m"),
    (EnvConfig, {"collision_penalty": -1.0}, "collision_penalty"),
    (EnvConfig, {"goal_bonus": NAN}, "goal_bonus"),
    (EnvConfig, {"substeps": 0}, "substeps"),
    (EnvConfig, {"substeps": 2.0}, "substeps"),
    (EnvConfig, {"laps": 0}, "laps"),
    (EnvConfig, {"n_checkpoints": 0}, "n_checkpoints"),
    (EnvConfig, {"min_speed_command_mps": -6.0}, "min_speed_command_mps"),  # below vehicle min
    (EnvConfig, {"max_speed_command_mps": 21.0}, "max_speed_command_mps"),  # above vehicle max
    (
        EnvConfig,
        {"min_speed_command_mps": 4.0, "max_speed_command_mps": 4.0},
        "max_speed_command_mps",
    ),
    (EnvConfig, {"progress_reward_per_m": INF}, "progress_reward_per_m"),
    (EnvConfig, {"progress_reward_per_m": NAN}, "progress_reward_per_m"),
]


@pytest.mark.parametrize(
    ("cls", "kwargs", "field"),
    BAD_VALUES,
    ids=[f"{c.__name__}-{f}-{next(iter(k.values()))!r}" for c, k, f in BAD_VALUES],
)
def test_validators_raise_config_error_naming_field(cls, kwargs, field):
    with pytest.raises(ConfigError) as exc:
        cls(**kwargs)
    msg = str(exc.value)
    assert f"{cls.__name__}.{field}=" in msg
    assert "must be" in msg


def test_config_error_is_value_error():
    assert issubclass(ConfigError, ValueError)


def test_bad_values_fields_cover_every_validated_field():
    """The table above exercises every numeric field of every config class."""
    covered = {(c.__name__, f) for c, _, f in BAD_VALUES}
    unvalidated = {("CourseConfig", n) for n in ("seed", "centerline_csv", "reverse")}
    for cls in (VehicleConfig, LidarConfig, CourseConfig, FamilyConfig, ObstacleConfig, EnvConfig):
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(f.default_factory):  # nested configs
                continue
            key = (cls.__name__, f.name)
            if key not in unvalidated:
                assert key in covered, key


def test_valid_edge_values_are_accepted():
    assert LidarConfig(n_beams=2, fov_deg=360.0, noise_std_m=0.0, mount_offset_m=-0.2)
    assert VehicleConfig(min_speed_mps=0.0, rear_overhang_m=0.0, steer_dead_time_s=0.0)
    assert CourseConfig(length_m=10.0, point_spacing_m=0.5, width_variation=0.9, curviness=0.0)
    assert ObstacleConfig(count=0, length_range_m=(0.5, 0.5), min_spacing_m=0.5)
    assert CourseConfig(kind="map", map_yaml="maps/x.yaml")
    assert EnvConfig(min_speed_command_mps=-5.0, max_speed_command_mps=20.0)
    assert EnvConfig(progress_reward_per_m=-1.0)


def test_configs_are_frozen():
    cfg = EnvConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.laps = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lidar.n_beams = 3  # type: ignore[misc]


def test_derived_properties():
    cfg = EnvConfig()
    assert cfg.substep_dt_s == pytest.approx(0.005)
    v = VehicleConfig()
    assert v.min_turning_radius_m == pytest.approx(0.33 / math.tan(0.4189))
    assert 0.7 < v.min_turning_radius_m < 0.8


# --------------------------------------------------------------------------- presets


def test_presets():
    assert set(PRESETS) == {"f1tenth", "kart"}
    assert PRESETS["f1tenth"]() == f1tenth_preset() == EnvConfig()
    kart = kart_preset()
    assert kart != EnvConfig()
    assert kart.vehicle.wheelbase_m == 1.087
    assert kart.lidar.mount_offset_m == 1.5
    assert kart.control_dt_s == 0.02


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_dict_round_trip(name):
    cfg = PRESETS[name]()
    data = config_to_dict(cfg)
    assert isinstance(data, dict)
    assert isinstance(data["lidar"], dict) and isinstance(data["obstacles"], dict)
    # Tuples become lists, so the dict is plain YAML/JSON.
    assert isinstance(data["obstacles"]["length_range_m"], list)
    assert config_from_dict(EnvConfig, data) == cfg
    assert config_from_dict(EnvConfig, json.loads(json.dumps(data))) == cfg
    from_yaml = yaml.safe_load(yaml.safe_dump(data))
    assert config_from_dict(EnvConfig, from_yaml) == cfg
    # Nested tuple fields come back as tuples (equality with the dataclass would fail otherwise).
    back = config_from_dict(EnvConfig, from_yaml)
    assert isinstance(back.obstacles.length_range_m, tuple)


@pytest.mark.parametrize("cls", [VehicleConfig, LidarConfig, CourseConfig, ObstacleConfig])
def test_sub_config_round_trip(cls):
    cfg = cls()
    assert config_from_dict(cls, config_to_dict(cfg)) == cfg


def test_config_from_dict_partial_and_passthrough():
    assert config_from_dict(EnvConfig, {}) == EnvConfig()
    cfg = config_from_dict(EnvConfig, {"course": {"kind": "procedural", "seed": 4}, "laps": 2})
    assert cfg.course == CourseConfig(kind="procedural", seed=4)
    assert cfg.laps == 2
    assert cfg.lidar == LidarConfig()
    lidar = LidarConfig(n_beams=9)
    assert config_from_dict(EnvConfig, {"lidar": lidar}).lidar is lidar
    obj = EnvConfig(laps=5)
    assert config_from_dict(EnvConfig, obj) is obj


def test_config_from_dict_errors():
    with pytest.raises(ConfigError, match="Did you mean 'n_beams'"):
        config_from_dict(LidarConfig, {"nbeams": 3})
    with pytest.raises(ConfigError, match="Did you mean 'obstacles'"):
        config_from_dict(EnvConfig, {"obstacle": {"count": 1}})
    with pytest.raises(ConfigError, match="Valid fields: .*n_beams"):
        config_from_dict(LidarConfig, {"zzzz": 3})
    with pytest.raises(ConfigError, match="LidarConfig expects a mapping"):
        config_from_dict(EnvConfig, {"lidar": 5})
    with pytest.raises(ConfigError, match=r"LidarConfig\.n_beams"):
        config_from_dict(EnvConfig, {"lidar": {"n_beams": -4}})


# --------------------------------------------------------------------------- overrides


def test_with_overrides_partial_nested_dicts():
    base = EnvConfig()
    cfg = with_overrides(base, lidar={"n_beams": 541}, obstacles={"count": 3}, laps=2)
    assert cfg.lidar == LidarConfig(n_beams=541)
    assert cfg.obstacles == ObstacleConfig(count=3)
    assert cfg.laps == 2
    assert cfg.vehicle == base.vehicle and cfg.course == base.course
    assert base == EnvConfig()  # the base is untouched


def test_with_overrides_keeps_non_default_base_values():
    kart = kart_preset()
    cfg = with_overrides(kart, lidar={"noise_std_m": 0.01}, vehicle={"max_speed_mps": 12.0})
    assert cfg.lidar.noise_std_m == 0.01
    assert cfg.lidar.mount_offset_m == 1.5  # kept from the kart preset, not the default
    assert cfg.vehicle.max_speed_mps == 12.0
    assert cfg.vehicle.wheelbase_m == kart.vehicle.wheelbase_m
    assert cfg.obstacles == kart.obstacles
    assert cfg.control_dt_s == 0.02


def test_with_overrides_dataclass_value_and_lists():
    base = kart_preset()
    lidar = LidarConfig(n_beams=64)
    cfg = with_overrides(base, lidar=lidar, obstacles={"length_range_m": [2.0, 2.2]})
    assert cfg.lidar == lidar  # a dataclass replaces the nested config entirely
    assert cfg.obstacles.length_range_m == (2.0, 2.2)
    assert cfg.obstacles.width_range_m == base.obstacles.width_range_m
    assert with_overrides(base) == base


def test_with_overrides_errors():
    with pytest.raises(ConfigError, match="Did you mean 'lidar'"):
        with_overrides(EnvConfig(), lidr={"n_beams": 3})
    with pytest.raises(ConfigError, match="Did you mean 'n_beams'"):
        with_overrides(EnvConfig(), lidar={"nbeams": 3})
    with pytest.raises(ConfigError, match=r"EnvConfig\.laps"):
        with_overrides(EnvConfig(), laps=0)
    # Cross-field check against the *merged* vehicle limits.
    with pytest.raises(ConfigError, match=r"EnvConfig\.max_speed_command_mps"):
        with_overrides(EnvConfig(), vehicle={"max_speed_mps": 5.0})


# --------------------------------------------------------------------------- lidar angles


def test_lidar_angles_default_1081_over_270():
    c = LidarConfig()
    assert c.n_beams == 1081 and c.fov_deg == 270.0
    assert c.angle_min_rad == pytest.approx(-3 * math.pi / 4, abs=1e-15)
    assert c.angle_increment_rad == pytest.approx(math.radians(0.25), abs=1e-15)
    assert c.angle_max_rad == pytest.approx(3 * math.pi / 4, abs=1e-12)
    ang = beam_angles(c)
    assert ang.shape == (1081,)
    assert ang[0] == c.angle_min_rad
    assert ang[-1] == pytest.approx(c.angle_max_rad, abs=1e-12)
    assert abs(ang[540]) < 1e-12  # the middle beam points straight ahead
    assert np.allclose(np.diff(ang), c.angle_increment_rad, atol=1e-12)


def test_lidar_angles_full_circle_does_not_repeat_first_beam():
    c = LidarConfig(n_beams=360, fov_deg=360.0)
    assert c.angle_min_rad == pytest.approx(-math.pi)
    assert c.angle_increment_rad == pytest.approx(math.radians(1.0))
    assert c.angle_max_rad == pytest.approx(math.pi - math.radians(1.0))
    ang = beam_angles(c)
    # Beams are evenly spaced all the way round, including from the last back to the first.
    wrap_gap = ang[0] + 2 * math.pi - ang[-1]
    assert wrap_gap == pytest.approx(c.angle_increment_rad)


def test_lidar_angles_small_fov():
    c = LidarConfig(n_beams=2, fov_deg=90.0)
    assert c.angle_min_rad == pytest.approx(-math.pi / 4)
    assert c.angle_increment_rad == pytest.approx(math.pi / 2)
    assert c.angle_max_rad == pytest.approx(math.pi / 4)
    c = LidarConfig(n_beams=541, fov_deg=180.0)
    assert c.angle_increment_rad == pytest.approx(math.radians(180.0 / 540))
    assert c.angle_max_rad == pytest.approx(math.pi / 2)
