"""The best return Pendulum-v1 allows on the episodes solve.py evaluates: a ceiling for its returns.

    python benchmarks/pendulum_ceiling.py                        # seeds 1-10, 50 episodes each (about a minute)
    python benchmarks/pendulum_ceiling.py --seeds 1 2 3 --grid 201 161
    python benchmarks/pendulum_ceiling.py --seeds 1 --checkpoint runs/RUN/checkpoint.pt   # a policy beside the best

A Pendulum-v1 return depends as much on the episode's start state as on the policy (one episode scores from
about 0 to -350), so a mean such as -148.6 says little until it is set beside the best any policy can do on
the same 50 episodes. This computes that best by dynamic programming on the env's own equations, no learning:

    V_0(s) = 0,   V_k(s) = max_a [ r(s, a) + V_{k-1}(f(s, a)) ]      k = 1 .. 200 steps to go

over a grid of (theta, theta_dot), theta periodic, V between grid points interpolated bilinearly, a over
`--actions` torques evenly spaced in [-2, 2]. The controller then plays the real env from each episode's start
(episode i of run seed S seeded S + 1000000 + i, as the scripts' --evaluate and zoo_peer.py do), seeing only
the observation (cos, sin, theta_dot), and at k steps to go takes the torque that maximizes
r(s, a) + V_{k-1}(f(s, a)). Its returns are real returns of one policy on those episodes, so they are a lower
bound on the optimum; a finer grid raises them towards it, and the two columns the command prints (this grid
and one of half its resolution) say how far it has converged.

`--checkpoint` plays a DDPG or SAC checkpoint of these scripts on the same episodes, with the scripts' own
evaluation, and prints each episode's return beside the best, and the policy's return over 200 steps started
upright at rest (the best is 0: no torque keeps it there), which shows how precisely it holds the pendulum up.
"""

import argparse
import importlib
import json
import statistics
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import settings  # benchmarks/settings.py: the --help format

G, M, L, DT, MAX_SPEED, MAX_TORQUE, HORIZON = 10.0, 1.0, 1.0, 0.05, 8.0, 2.0, 200  # Pendulum-v1's constants


def angle_normalize(theta: np.ndarray) -> np.ndarray:
    return (theta + np.pi) % (2 * np.pi) - np.pi


def reward(theta: np.ndarray, theta_dot: np.ndarray, torque: np.ndarray) -> np.ndarray:
    """Pendulum-v1's reward for acting with `torque` in state (theta, theta_dot), as the env computes it."""
    return -(angle_normalize(theta) ** 2 + 0.1 * theta_dot**2 + 0.001 * torque**2)


def dynamics(theta: np.ndarray, theta_dot: np.ndarray, torque: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pendulum-v1's next state: semi-implicit Euler, the speed clipped to [-8, 8] before the angle moves."""
    next_dot = np.clip(
        theta_dot + (3 * G / (2 * L) * np.sin(theta) + 3.0 / (M * L**2) * torque) * DT, -MAX_SPEED, MAX_SPEED
    )
    return theta + next_dot * DT, next_dot


class Grid:
    """A grid of n_theta angles over [-pi, pi) (periodic) and n_dot speeds over [-8, 8], values stored flat."""

    def __init__(self, n_theta: int, n_dot: int):
        self.n_theta, self.n_dot = n_theta, n_dot
        self.theta = -np.pi + 2 * np.pi * np.arange(n_theta) / n_theta
        self.dot = np.linspace(-MAX_SPEED, MAX_SPEED, n_dot)

    def corners(self, theta: np.ndarray, theta_dot: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Flat indices of the 4 grid points around each state, and their bilinear weights (summing to 1)."""
        x = (angle_normalize(theta) + np.pi) / (2 * np.pi / self.n_theta)
        i0 = np.floor(x)
        wx = x - i0
        i0 = i0.astype(np.int64) % self.n_theta
        i1 = (i0 + 1) % self.n_theta  # the angle wraps around: the point after the last is the first
        y = (theta_dot + MAX_SPEED) / (2 * MAX_SPEED / (self.n_dot - 1))
        j0 = np.clip(np.floor(y), 0, self.n_dot - 2)
        wy = y - j0
        j0 = j0.astype(np.int64)
        index = [i0 * self.n_dot + j0, i0 * self.n_dot + j0 + 1, i1 * self.n_dot + j0, i1 * self.n_dot + j0 + 1]
        weight = [(1 - wx) * (1 - wy), (1 - wx) * wy, wx * (1 - wy), wx * wy]
        return index, weight


def interpolate(values: np.ndarray, index: list[np.ndarray], weight: list[np.ndarray]) -> np.ndarray:
    return sum(w * values[i] for i, w in zip(index, weight))


def value_tables(grid: Grid, torques: np.ndarray, horizon: int = HORIZON) -> np.ndarray:
    """V_k on the grid for k = 0 .. horizon steps to go, shape (horizon + 1, n_theta * n_dot)."""
    theta, theta_dot = (a.reshape(-1, 1) for a in np.meshgrid(grid.theta, grid.dot, indexing="ij"))
    r = reward(theta, theta_dot, torques)  # (states, actions); where each (s, a) lands does not depend on k
    index, weight = grid.corners(*dynamics(theta, theta_dot, torques))
    tables = np.zeros((horizon + 1, grid.n_theta * grid.n_dot))
    for k in range(1, horizon + 1):
        tables[k] = (r + interpolate(tables[k - 1], index, weight)).max(axis=1)
    return tables


def act(tables: np.ndarray, grid: Grid, torques: np.ndarray, obs: np.ndarray, steps_left: int) -> float:
    """The torque that maximizes r(s, a) + V_{k-1}(f(s, a)) at k = steps_left, s read off the observation."""
    theta, theta_dot = np.arctan2(obs[1], obs[0]), obs[2]  # obs = (cos theta, sin theta, theta_dot)
    next_value = interpolate(tables[steps_left - 1], *grid.corners(*dynamics(theta, theta_dot, torques)))
    return float(torques[np.argmax(reward(theta, theta_dot, torques) + next_value)])


def play(tables: np.ndarray, grid: Grid, torques: np.ndarray, seed: int) -> float:
    """One episode of the real env, seeded `seed`, acting greedily on the tables; its return."""
    env = gym.make("Pendulum-v1")
    obs, _ = env.reset(seed=seed)
    total, steps_left, done = 0.0, tables.shape[0] - 1, False
    while not done:
        torque = act(tables, grid, torques, obs, steps_left)
        obs, r, terminated, truncated, _ = env.step(np.array([torque], dtype=np.float32))
        total, steps_left, done = total + float(r), steps_left - 1, terminated or truncated
    env.close()
    return total


def ceiling(seeds: list[int], episodes: int, n_theta: int, n_dot: int, n_actions: int) -> dict[int, list[float]]:
    """Per run seed, the controller's return on each of that seed's evaluation episodes."""
    grid, torques = Grid(n_theta, n_dot), np.linspace(-MAX_TORQUE, MAX_TORQUE, n_actions)
    tables = value_tables(grid, torques)
    return {seed: [play(tables, grid, torques, seed + 1_000_000 + i) for i in range(episodes)] for seed in seeds}


def load_actor(path: str):
    """The actor of a ddpg_continuous.py or sac_continuous.py checkpoint, and that script's module."""
    import torch  # only this option needs torch and the scripts

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    script = importlib.import_module(Path(checkpoint["script"]).stem)
    known = {k: v for k, v in checkpoint["args"].items() if k in script.Args.__dataclass_fields__}
    args = script.Args(**{**known, "device": "cpu"})
    if args.env_id != "Pendulum-v1":
        sys.exit(
            f"error: {path} holds a {args.env_id} policy; the ceiling is Pendulum-v1's: give a Pendulum-v1 checkpoint"
        )
    env = gym.make(args.env_id)
    actor = script.Actor(
        int(np.prod(env.observation_space.shape)), env.action_space.low, env.action_space.high, args.hidden_sizes
    )
    actor.load_state_dict(checkpoint["actor"])
    return actor, script, args


def checkpoint_returns(path: str, seed: int, episodes: int) -> list[float]:
    """The checkpoint's returns on the episodes of run seed `seed`, played by its script's own evaluation."""
    actor, script, args = load_actor(path)
    args.seed, args.eval_episodes = seed, episodes
    return [float(r) for r in script.evaluate(actor, args, "")]


def return_from_upright(path: str) -> tuple[float, float]:
    """The checkpoint's return over 200 steps started upright at rest, and the angle it ends at."""
    import torch

    actor, _, _ = load_actor(path)
    act = getattr(actor, "deterministic", actor)  # SAC's evaluation acts with the squashed mean, DDPG's with mu
    env = gym.make("Pendulum-v1")
    obs, _ = env.reset(options={"x_init": 0.0, "y_init": 0.0})  # the start range shrunk to the single state 0, 0
    total, done = 0.0, False
    while not done:
        with torch.inference_mode():
            action = act(torch.as_tensor(obs, dtype=torch.float32)[None])[0].numpy()
        obs, r, terminated, truncated, _ = env.step(action)
        total, done = total + float(r), terminated or truncated
    return total, float(np.arctan2(obs[1], obs[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=settings.HelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(1, 11)), help="seeds of the episodes")
    parser.add_argument("--episodes", type=int, default=50, help="episodes per seed")
    parser.add_argument(
        "--grid",
        nargs=2,
        type=int,
        default=[401, 321],
        metavar=("N_THETA", "N_DOT"),
        help="the finer state grid's points in angle and angular velocity",
    )
    parser.add_argument("--actions", type=int, default=41, help="torques evenly spaced in [-2, 2], 0 among them if odd")
    parser.add_argument("--checkpoint", help="a DDPG or SAC checkpoint on Pendulum-v1 to play beside the best")
    parser.add_argument("--out", help="also write the figures to this JSON file")
    args = parser.parse_args()
    coarse = [max(3, (n + 1) // 2) for n in args.grid]  # half the resolution: how far the figures still move
    results = {}
    for name, (n_theta, n_dot) in (("coarse", coarse), ("fine", args.grid)):
        episodes = ceiling(args.seeds, args.episodes, n_theta, n_dot, args.actions)
        per_seed = {seed: statistics.mean(returns) for seed, returns in episodes.items()}
        results[name] = {
            "grid": [n_theta, n_dot],
            "per_seed": per_seed,
            "mean": statistics.mean(per_seed.values()),
            "episodes": episodes,
        }
    print(
        f"Pendulum-v1, {args.episodes} episodes per seed (episode i of seed S seeded S + 1000000 + i), "
        f"{args.actions} torques"
    )
    print("| seed | " + " | ".join(f"grid {r['grid'][0]}x{r['grid'][1]}" for r in results.values()) + " |")
    print("|---|" + "---|" * len(results))
    for seed in args.seeds:
        print(f"| {seed} | " + " | ".join(f"{r['per_seed'][seed]:.1f}" for r in results.values()) + " |")
    print("| mean | " + " | ".join(f"{r['mean']:.1f}" for r in results.values()) + " |")
    if args.checkpoint:
        results["checkpoint"] = {"path": args.checkpoint, "episodes": {}}
        for seed in args.seeds:
            played, best = checkpoint_returns(args.checkpoint, seed, args.episodes), results["fine"]["episodes"][seed]
            results["checkpoint"]["episodes"][seed] = played
            print(
                f"\nseed {seed}, {args.checkpoint}: {statistics.mean(played):.1f}, the best {statistics.mean(best):.1f}; "
                "per episode, largest loss first:"
            )
            for i in sorted(range(args.episodes), key=lambda i: played[i] - best[i]):
                print(f"  episode {i}: {played[i]:.1f}, the best {best[i]:.1f}, lost {best[i] - played[i]:.1f}")
        upright, angle = return_from_upright(args.checkpoint)
        results["checkpoint"]["from_upright"] = {"return": upright, "final_angle": angle}
        print(f"from upright at rest, 200 steps: {upright:.2f} (the best: 0.00), ending at theta = {angle:+.3f} rad")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
