"""Where a single-env step's time goes: scan, dynamics and collision, progress and reward, the
compiled call itself, and Python/gymnasium overhead.

The car states of a recorded drive are replayed through each part of the step kernel in a
compiled loop (restoring the state before every call), so each part is timed on the states an
episode really visits. Used by ``env_throughput.py``; run alone for the breakdown only:

    uv run python benchmarks/step_breakdown.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from numba import njit

import tinylidar_gym  # noqa: F401  (registers TinyLidar-v0)
from tinylidar_gym.sim import kernel as k
from tinylidar_gym.sim.state import C_SPEED, E_CONTROL_DT, E_WINDOW
from tinylidar_gym.sim.world import World


@njit(cache=False)
def _replay_copy(states, w_cars):  # the cost of restoring a state, subtracted from each part
    for t in range(states.shape[0]):
        w_cars[0, :] = states[t]


@njit(cache=False)
def _replay_scan(states, cars, lp, segs, n_seg, bc, bs, rng, scratch, scans):
    for t in range(states.shape[0]):
        cars[0, :] = states[t]
        k.observe_car(0, cars, lp, segs, n_seg, bc, bs, rng, scratch, scans)


@njit(cache=False)
def _replay_dynamics(states, actions, cars, steer_buf, vp, ep, segs, n_wall, n_seg, cand):
    for t in range(states.shape[0]):
        cars[0, :] = states[t]
        car = cars[0]
        steer, speed = k.command_from_action(
            actions[t, 0], actions[t, 1], vp[k.P_MAX_STEER], ep[k.E_VMIN_CMD], ep[k.E_VMAX_CMD]
        )
        half_len = 0.5 * vp[k.P_LENGTH]
        half_wid = vp[k.P_HALF_WIDTH]
        reach = np.sqrt(half_len**2 + half_wid**2)
        reach += (abs(car[C_SPEED]) + abs(speed)) * ep[E_CONTROL_DT] + 0.05
        cx, cy, _, _ = k._footprint(car, vp)
        n = k._broad_phase(segs[0], n_seg[0], cx, cy, reach, cand[0])
        k._drive(0, car, steer, speed, steer_buf, vp, ep, segs[0], n_wall[0], cand[0], n)
        k._update_clearance(car, vp, segs[0], n_wall[0], n_seg[0])


@njit(cache=False)
def _replay_progress(states, cars, ep, centerline, n_cl, lap_len, cp_s):
    for t in range(states.shape[0]):
        cars[0, :] = states[t]
        ds = k._update_progress(cars[0], centerline[0], n_cl[0], lap_len[0], int(ep[E_WINDOW]))
        k._end_and_reward(cars[0], ep, cp_s[0], 0, ds)


def _record(env: gym.Env, actions: np.ndarray) -> np.ndarray:
    """Car states (T, N_CAR_STATE) before each step of a drive with ``actions``."""
    world: World = env.unwrapped.world  # type: ignore[attr-defined]
    states = []
    for a in actions:
        states.append(world.snapshot(0))
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    return np.array(states)


def _best_us(fn: Callable[[], object], n: int, repeats: int) -> float:
    """Fastest of ``repeats`` timings of ``fn`` (which does ``n`` units), microseconds of this
    thread's CPU time per unit (CPU time: other processes on the core do not count)."""
    fn()
    best = np.inf
    for _ in range(repeats):
        t0 = time.thread_time()
        fn()
        best = min(best, time.thread_time() - t0)
    return best / n * 1e6


def step_breakdown(actions: np.ndarray, seed: int, repeats: int = 5) -> dict[str, float]:
    """Microseconds per single-env step by part (fastest of ``repeats``; the machine is noisy).

    Args:
        actions: (T, 2) float32 actions to drive (and to time the parts on).
        seed: reset seed.
    """
    env = gym.make("TinyLidar-v0")
    env.reset(seed=seed)
    states = _record(env, actions)
    env.reset(seed=seed)
    world: World = env.unwrapped.world  # type: ignore[attr-defined]
    w = world
    cars = w.cars.copy()
    n = len(states)
    acts = actions.astype(np.float64)
    copy = _best_us(lambda: _replay_copy(states, cars), n, repeats)
    scan = _best_us(
        lambda: _replay_scan(
            states, cars, w.lidar_params, w.segs, w.n_seg, w.beam_cos, w.beam_sin, w.rng.copy(),
            w.scratch, w.scans.copy(),
        ), n, repeats,
    )  # fmt: skip
    dynamics = _best_us(
        lambda: _replay_dynamics(
            states, acts, cars, w.steer_buf.copy(), w.vehicle_params, w.env_params, w.segs,
            w.n_wall, w.n_seg, w.cand,
        ), n, repeats,
    )  # fmt: skip
    progress = _best_us(
        lambda: _replay_progress(
            states, cars, w.env_params, w.centerline, w.n_cl, w.lap_len, w.cp_s
        ), n, repeats,
    )  # fmt: skip

    resets = [0.0]  # CPU seconds spent in env.reset() during the timed drives

    def reset() -> None:
        t0 = time.thread_time()
        env.reset()
        resets[0] += time.thread_time() - t0

    def drive_env() -> None:
        for a in actions:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                reset()

    def drive_world() -> None:
        batch = np.zeros((1, 2))
        for a in acts:
            batch[0] = a
            world.step(batch)
            if world.reason(0):
                reset()

    def timed(drive: Callable[[], None]) -> tuple[float, float]:
        """(us per step, of which in resets), after one untimed drive."""
        drive()
        resets[0] = 0.0
        t0 = time.thread_time()
        drive()
        return (time.thread_time() - t0) / n * 1e6, resets[0] / n * 1e6

    env_us, env_reset_us = min(timed(drive_env) for _ in range(repeats))
    world_us, world_reset_us = min(timed(drive_world) for _ in range(repeats))
    parts = {
        "scan": scan - copy,
        "dynamics and collision": dynamics - copy,
        "progress and reward": progress - copy,
    }
    kernel = sum(parts.values())
    parts["compiled call (argument passing) and the rest"] = world_us - world_reset_us - kernel
    parts["Python/gymnasium (action check, info, wrappers)"] = (
        env_us - env_reset_us - (world_us - world_reset_us)
    )
    parts["episode resets (new layout, first scan), per step"] = env_reset_us
    parts["total env.step"] = env_us
    return parts


def main() -> None:
    from benchmarks.env_throughput import _actions

    acts = _actions(np.random.default_rng(0), 5_000, ())
    for name, us in step_breakdown(acts, 0).items():
        print(f"{name:>48}: {us:6.2f} us")


if __name__ == "__main__":
    main()
