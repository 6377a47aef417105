"""The expert: success on train seeds, labels for any state, SB3/imitation policy faces."""

import numpy as np
import pytest
from imitation.data import rollout
from imitation.data.wrappers import RolloutInfoWrapper
from stable_baselines3.common.vec_env import DummyVecEnv

from tinylidar_gym import TinyLidarEnv
from tinylidar_gym.data.rollout import run_episode
from tinylidar_gym.experts import Expert
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
