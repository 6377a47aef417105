"""DAgger: the expert labels the states the learner visits; a tiny run produces a model."""

import numpy as np

from tinylidar_gym.data.evaluation import aggregate, drive_seeds
from tinylidar_gym.data.seeds import split_seeds
from tinylidar_gym.experts import Expert
from tinylidar_gym.experts.expert import ExpertConfig
from tinylidar_gym.sim.config import EnvConfig, with_overrides
from trainers.dagger import train_dagger
from trainers.dagger_config import DAggerBCConfig, DAggerConfig, DemoConfig, TakeoverConfig
from trainers.dagger_rounds import (
    LEAN_INFO_KEYS,
    LeanInfoVecEnv,
    SB3ExpertPolicy,
    Takeover,
    dart_demonstrations,
)
from trainers.export import TorchPolicy, load_model
from trainers.validation import better
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
        val_episodes=2,
        bc=DAggerBCConfig(epochs_per_round=1, final_epochs=0, batch_size=64, first_round_epochs=1),
        takeover=TakeoverConfig(deviation_m=0.0),
        demos=DemoConfig(stats_episodes=2, dart_episodes=0),
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
        val_episodes=2,
        bc=DAggerBCConfig(epochs_per_round=1, final_epochs=0, batch_size=32, first_round_epochs=1),
        takeover=TakeoverConfig(deviation_m=0.0),
        demos=DemoConfig(stats_episodes=1, dart_episodes=0),
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
        val_episodes=2,
        beta_rampdown_rounds=1,
        num_envs=2,
        bc=DAggerBCConfig(first_round_epochs=1, epochs_per_round=1, final_epochs=1, batch_size=32),
        takeover=TakeoverConfig(deviation_m=0.0),
        demos=DemoConfig(dart_episodes=2),
    )
    report = train_dagger(tmp_path / "m", cfg, env, progress=False)
    first, second = report["per_round"]
    assert first["dart"] and first["episodes"] == 2 and first["learner_steps"] == 0
    assert second["beta"] == 0.0 and second["learner_steps"] >= second["labels"]
    assert report["expert_labels"] == first["labels"] + second["labels"]


def test_the_kept_model_is_the_best_validated_epoch(tmp_path):
    env = with_overrides(EnvConfig(), lidar={"n_beams": 241}, max_episode_time_s=1.5)
    cfg = DAggerConfig(
        rounds=2,
        steps_per_round=300,
        beta_rampdown_rounds=1,
        num_envs=3,
        val_episodes=6,
        deterministic_learner=True,
        bc=DAggerBCConfig(first_round_epochs=2, epochs_per_round=2, final_epochs=1, batch_size=32),
        takeover=TakeoverConfig(deviation_m=0.0),
        demos=DemoConfig(dart_episodes=3),
    )
    report = train_dagger(tmp_path / "m", cfg, env, progress=False)
    # One closed-loop validation per BC epoch: round 0, round 1, the final epochs.
    history = report["validation"]
    assert [v["at"] for v in history] == [
        "round 0 epoch 1",
        "round 0 epoch 2",
        "round 1 epoch 1",
        "round 1 epoch 2",
        "final epoch 1",
    ]
    assert report["per_round"][1]["learner_steps"] >= report["per_round"][1]["labels"]
    kept = report["kept"]
    assert kept in history
    assert not any(better(v, kept) for v in history)
    # The saved network is the kept one: validating it again gives the kept figures (which
    # tell the epochs apart).
    assert len({v["mean_distance_m"] for v in history}) > 1
    net, _ = load_model(tmp_path / "m")
    drive = TorchPolicy(net)
    again = aggregate(
        drive_seeds(
            lambda obs, _venv: drive(obs),
            split_seeds("val", 0, 6),
            tmp_path,
            env,
            "val",
            "x",
            num_envs=6,
            record=False,
            progress=False,
        )  # fmt: skip
    )
    for key in ("success_rate", "checkpoint_pass_rate", "mean_distance_m"):
        assert again[key] == kept[key]


def test_lean_infos_keep_only_the_end_of_episode_fields():
    venv = LeanInfoVecEnv(TinyLidarSB3VecEnv(2, lidar={"n_beams": 241}, max_episode_time_s=0.2))
    venv.seed(1)
    venv.reset()
    ends = []
    for _ in range(20):
        _, _, dones, infos = venv.step(np.zeros((2, 2), dtype=np.float32))
        for done, info in zip(dones, infos, strict=True):
            if not done:
                assert info == {}
            else:
                ends.append(info)
    assert ends, "the 0.2 s episodes must end within 20 steps"
    for info in ends:
        assert set(info) <= set(LEAN_INFO_KEYS)
        assert info["terminal_observation"].shape == (241,)
        assert isinstance(info["is_success"], bool) and isinstance(info["end_reason"], str)


def test_takeover_gives_the_expert_the_wheel_past_the_deviation_limit():
    venv = TinyLidarSB3VecEnv(2, lidar={"n_beams": 241})
    venv.seed(3)
    venv.reset()
    expert = Expert(venv.config)
    gate = Takeover(expert, venv, deviation_m=0.3, hold_steps=3)
    for _ in range(20):  # car 0 swerves left, car 1 follows the expert
        venv.step(np.stack([[0.6, 0.3], expert.act(venv.world, 1)]).astype(np.float32))
    dev = [expert.path_deviation_m(venv.world, i) for i in range(2)]
    assert dev[0] > 0.3 > dev[1]
    assert gate().tolist() == [True, False]
    # Once taken, the wheel stays with the expert for hold_steps steps in all.
    gate.deviation_m = 1e9
    assert [gate().tolist() for _ in range(3)] == [[True, False], [True, False], [False, False]]
    assert gate.steps == 3


def test_dagger_with_takeover_counts_expert_driven_steps(tmp_path):
    env = with_overrides(EnvConfig(), lidar={"n_beams": 241}, max_episode_time_s=3.0)
    cfg = DAggerConfig(
        rounds=2,
        steps_per_round=400,
        beta_rampdown_rounds=1,
        num_envs=4,
        val_episodes=2,
        bc=DAggerBCConfig(first_round_epochs=1, epochs_per_round=1, batch_size=32),
        takeover=TakeoverConfig(deviation_m=0.05),
        demos=DemoConfig(dart_episodes=2),
    )
    report = train_dagger(tmp_path / "m", cfg, env, progress=False)
    learner_round = report["per_round"][1]
    # A barely trained learner leaves a 5 cm corridor at once: the expert drives much of it,
    # the learner the rest, and every state either drove is labelled.
    assert learner_round["expert_takeover_steps"] > 0 and learner_round["learner_steps"] > 0
    assert (
        learner_round["expert_takeover_steps"] + learner_round["learner_steps"]
        >= learner_round["labels"]
    )
