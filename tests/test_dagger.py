"""DAgger: the expert labels the states the learner visits; a tiny run produces a model."""

import numpy as np

from tinylidar_gym.experts import Expert
from tinylidar_gym.sim.config import EnvConfig, with_overrides
from trainers.dagger import DAggerConfig, SB3ExpertPolicy, train_dagger
from trainers.export import load_model
from trainers.vec_env import TinyLidarSB3VecEnv


def test_sb3_expert_policy_labels_the_current_states():
    venv = TinyLidarSB3VecEnv(2, lidar={"n_beams": 241})
    venv.seed(3)
    obs = venv.reset()
    for _ in range(10):
        obs, *_ = venv.step(np.tile([0.5, 0.0], (2, 1)))  # drive off the expert's path
    policy = SB3ExpertPolicy(venv)
    actions, _ = policy.predict(obs, deterministic=True)
    expert = Expert(venv.config)
    assert np.allclose(actions, np.stack([expert.act(venv.world, i) for i in range(2)]))


def test_tiny_dagger_run_aggregates_rounds_and_saves_a_model(tmp_path):
    env = with_overrides(EnvConfig(), lidar={"n_beams": 241}, max_episode_time_s=2.0)
    cfg = DAggerConfig(
        total_timesteps=1200,
        num_envs=4,
        round_min_episodes=4,
        round_min_timesteps=400,
        bc_epochs_per_round=1,
        batch_size=64,
        stats_episodes=2,
    )
    report = train_dagger(tmp_path / "m", cfg, env, progress=False)
    assert report["rounds"] >= 2
    assert report["expert_labels"] >= cfg.total_timesteps
    net, meta = load_model(tmp_path / "m")
    assert net.n_beams == 241 and meta["metadata"]["training"]["rounds"] == report["rounds"]
