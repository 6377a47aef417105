"""DAgger: the expert labels the states the learner visits; a tiny run produces a model."""

import numpy as np

from tinylidar_gym.experts import Expert
from tinylidar_gym.experts.expert import ExpertConfig
from tinylidar_gym.sim.config import EnvConfig, with_overrides
from trainers.dagger import DAggerConfig, SB3ExpertPolicy, dart_demonstrations, train_dagger
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


def test_dagger_rounds_add_learner_visited_states(tmp_path):
    env = with_overrides(EnvConfig(), lidar={"n_beams": 241}, max_episode_time_s=2.0)
    cfg = DAggerConfig(
        rounds=3,
        steps_per_round=400,
        beta_rampdown_rounds=1,
        num_envs=4,
        bc_epochs_per_round=1,
        final_epochs=0,
        batch_size=64,
        stats_episodes=2,
        dart_episodes=0,
    )
    report = train_dagger(tmp_path / "m", cfg, env, progress=False)
    rounds = report["per_round"]
    assert [r["beta"] for r in rounds] == [1.0, 0.0, 0.0]
    # Round 0: only the expert drove. Later rounds: the learner drove every car-step, and each
    # of those states was labelled and added to the aggregate.
    assert rounds[0]["learner_steps"] == 0
    for r in rounds[1:]:
        assert r["labels"] >= cfg.steps_per_round
        assert r["learner_steps"] >= r["labels"]
    assert report["expert_labels"] == sum(r["labels"] for r in rounds) + report["stats_samples"]
    net, meta = load_model(tmp_path / "m")
    assert net.n_beams == 241 and meta["metadata"]["training"]["rounds"] == 3
    assert meta["metadata"]["dagger"]["steps_per_round"] == 400


def test_dagger_stops_before_a_round_could_exceed_the_label_budget(tmp_path):
    env = with_overrides(EnvConfig(), lidar={"n_beams": 241}, max_episode_time_s=1.0)
    cfg = DAggerConfig(
        rounds=10,
        steps_per_round=200,
        label_budget=700,
        num_envs=2,
        bc_epochs_per_round=1,
        final_epochs=0,
        batch_size=32,
        stats_episodes=1,
        dart_episodes=0,
    )
    report = train_dagger(tmp_path / "m", cfg, env, progress=False)
    assert 1 <= report["rounds"] < 10
    assert report["expert_labels"] <= cfg.label_budget


def test_dart_demonstrations_execute_noise_but_keep_the_experts_labels():
    venv = TinyLidarSB3VecEnv(2, lidar={"n_beams": 241}, max_episode_time_s=1.0)
    venv.seed(4)
    expert = SB3ExpertPolicy(venv)
    noisy = ExpertConfig(noise_steer_std=0.3, noise_speed_std=0.3)
    trajs = dart_demonstrations(venv, expert, 2, noisy, seed=0)
    venv.seed(4)
    clean = dart_demonstrations(venv, expert, 2, ExpertConfig(0, 0), seed=0)
    assert len(trajs) == 2 and all(len(t.obs) == len(t.acts) + 1 for t in trajs)
    # Same starts, same first labels; then the executed noise takes the cars elsewhere.
    for t in trajs:
        twin = [c for c in clean if np.array_equal(c.obs[0], t.obs[0])]
        assert len(twin) == 1
        np.testing.assert_array_equal(t.acts[0], twin[0].acts[0])
        assert np.abs(t.obs[20] - twin[0].obs[20]).max() > 1e-3
    # The labels are the expert's own actions: the first one, in the start state, is the one a
    # fresh env's expert gives.
    env = TinyLidarSB3VecEnv(1, lidar={"n_beams": 241}, max_episode_time_s=1.0)
    env.seed(4)
    env.reset()
    first = Expert(env.config).act(env.world, 0)
    assert any(np.abs(t.acts[0] - first).max() < 1e-6 for t in trajs)


def test_dagger_with_dart_demonstrations_counts_them_as_round_0(tmp_path):
    env = with_overrides(EnvConfig(), lidar={"n_beams": 241}, max_episode_time_s=1.0)
    cfg = DAggerConfig(
        rounds=2,
        steps_per_round=200,
        dart_episodes=2,
        beta_rampdown_rounds=1,
        num_envs=2,
        bc_epochs_per_round=1,
        final_epochs=1,
        batch_size=32,
    )
    report = train_dagger(tmp_path / "m", cfg, env, progress=False)
    first, second = report["per_round"]
    assert first["dart"] and first["episodes"] == 2 and first["learner_steps"] == 0
    assert second["beta"] == 0.0 and second["learner_steps"] >= second["labels"]
    assert report["expert_labels"] == first["labels"] + second["labels"]
