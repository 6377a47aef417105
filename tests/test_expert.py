"""The expert: success on train seeds, labels for any state, SB3/imitation policy faces, and
the limits that make it a teacher for any course."""

import dataclasses

import numpy as np
import pytest
from imitation.data import rollout
from imitation.data.wrappers import RolloutInfoWrapper
from stable_baselines3.common.vec_env import DummyVecEnv

from tinylidar_gym import TinyLidarEnv
from tinylidar_gym.data.rollout import run_episode
from tinylidar_gym.experts import Expert, plan_path
from tinylidar_gym.experts.policy import ExpertPolicy
from trainers.vec_env import TinyLidarSB3VecEnv


def test_expert_finishes_train_seeds():
    env = TinyLidarEnv()
    expert = Expert(env.config)
    results = [run_episode(env, expert.policy_for(env), seed=s) for s in range(10)]
    assert all(r["is_success"] for r in results), [r["end_reason"] for r in results]
    assert np.mean([r["mean_speed_mps"] for r in results]) > 5.0


def test_expert_labels_states_off_its_own_path():
    """DAgger asks about states a learner visits: after drifting left the expert steers right."""
    env = TinyLidarEnv(obstacles={"count": 0})
    expert = Expert(env.config)
    for steer in (0.6, -0.6):
        env.reset(seed=0)
        for _ in range(25):
            *_, info = env.step([steer, 0.0])  # swerve to one side at 4 m/s
        assert np.sign(info["lateral_offset_m"]) == np.sign(steer)
        assert abs(info["lateral_offset_m"]) > 0.2
        assert np.sign(expert.act(env.world, 0)[0]) == -np.sign(steer)


def test_sb3_predict_and_imitation_rollout_on_the_native_vector_env():
    venv = TinyLidarSB3VecEnv(3, max_episode_time_s=1.0, lidar={"n_beams": 121})
    policy = ExpertPolicy(venv)
    venv.seed(7)
    obs = venv.reset()
    actions, state = policy.predict(obs)
    assert actions.shape == (3, 2) and state is None
    expert = Expert(venv.config)
    assert np.array_equal(actions, np.stack([expert.act(venv.world, i) for i in range(3)]))
    trajs = rollout.generate_trajectories(
        policy, venv, rollout.make_min_episodes(3), rng=np.random.default_rng(0)
    )
    assert len(trajs) >= 3
    assert all(len(t.acts) == 40 for t in trajs)  # 1 s at 40 Hz, then timeout
    assert all(np.abs(t.acts).max() <= 1.0 for t in trajs)


def test_imitation_rollout_with_a_dummy_vec_env():
    def make():
        return RolloutInfoWrapper(TinyLidarEnv(max_episode_time_s=0.5, lidar={"n_beams": 121}))

    venv = DummyVecEnv([make, make])
    policy = ExpertPolicy(venv)
    trajs = rollout.generate_trajectories(
        policy, venv, rollout.make_min_episodes(2), rng=np.random.default_rng(0)
    )
    assert len(trajs) >= 2 and all(len(t.acts) == 20 for t in trajs)


def test_unknown_env_is_a_clear_error():
    with pytest.raises(TypeError, match="cannot find the simulator"):
        ExpertPolicy(object())


# --------------------------------------------------------------------------- any course


def _smoothed_path_curvature(plan):
    from tinylidar_gym.experts.planner import _smoothed
    from tinylidar_gym.sim.course import curvature

    return _smoothed(curvature(plan.xy))


def test_plan_keeps_the_turning_radius_on_a_tight_family_course():
    """Episode 50's obstacles squeeze the path into a bend tighter than the car can turn
    (radius 0.61 m without the limit); the plan gives up clearance to stay turnable."""
    env = TinyLidarEnv(course={"kind": "family"}, lidar={"n_beams": 61})
    env.reset(seed=50)
    expert = Expert(env.config)
    plan = expert.plan_for(env.world, 0)
    turning = env.config.vehicle.min_turning_radius_m
    max_curv = 1.0 / (expert.cfg.planner.turning_radius_margin * turning)
    assert _smoothed_path_curvature(plan).max() <= max_curv + 1e-9


def test_steer_rate_speed_limit_on_a_clothoid():
    from tinylidar_gym.experts.planner import PlannerConfig, _steer_rate_speed
    from tinylidar_gym.sim.config import VehicleConfig

    # Curvature ramps 0 -> 1 / m over 4 m, holds, ramps back: a closed-enough test path.
    ds = 0.05
    kappa = np.concatenate([np.linspace(0, 1, 80), np.ones(40), np.linspace(1, 0, 80)])
    kappa = np.concatenate([kappa, np.zeros(400)])
    heading = np.cumsum(kappa) * ds
    xy = np.cumsum(np.stack([np.cos(heading), np.sin(heading)], axis=1) * ds, axis=0)
    vehicle, cfg = VehicleConfig(), PlannerConfig()
    cap = _steer_rate_speed(xy, vehicle, cfg)
    k = 40  # on the first ramp: dk/ds = 0.25 / m2, kappa = 0.5 / m
    wb = vehicle.wheelbase_m
    expected = cfg.steer_rate_share * vehicle.max_steer_rate_radps * (1 + (wb * 0.5) ** 2)
    expected /= wb * 0.25
    assert cap[k] == pytest.approx(expected, rel=0.05)
    assert np.all(cap[300:500] > 1e3)  # straight: no limit


def test_expert_slows_through_a_passage_tighter_than_its_clearances():
    """A 2.5 m box leaves a gap of car width + 0.1 m: less than the planner's wall + obstacle
    clearances (0.29 m). The plan slows to the tight-passage speed there (5 cm of room each
    side) and the car gets through."""
    env = TinyLidarEnv(lidar={"n_beams": 61})
    env.reset(seed=0)
    course = env.layout.course
    i = 60 + int(np.argmin(course.curvature[60:120]))  # a straight part
    s0 = course.arc_length[i]
    pos, yaw, _ = course.interpolate(s0)
    left_edge = course.half_width_left[i] - (env.config.vehicle.width_m + 0.1)
    right_edge = -course.half_width_right[i] + 0.1
    d = 0.5 * (left_edge + right_edge)
    box = [pos[0] - d * np.sin(yaw), pos[1] + d * np.cos(yaw), yaw, 2.5, left_edge - right_edge]
    expert = Expert(env.config)
    result = run_episode(env, expert.policy_for(env), seed=0, options={"obstacles": [box]})
    assert result["is_success"], result["end_reason"]
    plan = expert.plan_for(env.world, 0)
    cfg = expert.cfg.planner
    in_gap = np.abs(plan.s - s0) < 0.5
    assert (
        plan.speed[in_gap].max() <= cfg.tight_speed_mps + cfg.tight_speed_gain_per_s * 0.05 + 1e-9
    )


def test_default_course_plans_are_unchanged_by_the_tight_place_limits():
    """The turning-radius, steering-rate and tight-passage limits never bind on the default
    course: its plans are those of the plain smoothing planner."""
    env = TinyLidarEnv(lidar={"n_beams": 61})
    loose = dataclasses.replace(
        Expert(env.config)._planner_cfg,
        turning_radius_margin=1e-6,
        steer_rate_share=1e6,
        tight_speed_mps=1e6,
    )
    for seed in range(10):
        env.reset(seed=seed)
        args = (env.layout.course, env.layout.obstacles, env.config.vehicle)
        a = plan_path(*args, Expert(env.config)._planner_cfg)
        b = plan_path(*args, loose)
        assert np.array_equal(a.xy, b.xy) and np.array_equal(a.speed, b.speed)
