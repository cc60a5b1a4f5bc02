"""Evaluate a model rl-zoo3 trained, with the episodes our scripts' evaluation plays.

Run with the Python of a venv that has benchmarks/requirements-zoo.txt installed; `solve.py` calls it. Plays
`--episodes` episodes deterministically, episode i seeded seed + 1000000 + i as in our scripts' evaluation, and
prints one line of JSON: the mean return and each episode's.
"""

import argparse
import json

import gymnasium as gym
from rl_zoo3 import ALGOS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--algo", required=True, help="rl-zoo3's algorithm")
    parser.add_argument("--model", required=True, help="the model file rl-zoo3's training saved")
    parser.add_argument("--env-id", required=True, help="the env")
    parser.add_argument("--seed", type=int, required=True, help="the seed of the first episode")
    parser.add_argument("--episodes", type=int, default=50, help="deterministic episodes to play")
    args = parser.parse_args()
    model = ALGOS[args.algo].load(args.model, device="cpu")
    env = gym.make(args.env_id)
    returns = []
    for episode in range(args.episodes):
        obs, _ = env.reset(seed=args.seed + 1_000_000 + episode)
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    print(json.dumps({"return": sum(returns) / len(returns), "returns": returns}))


if __name__ == "__main__":
    main()
