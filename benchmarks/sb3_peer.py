"""Stable-Baselines3's DDPG, SAC or DQN at the settings of our scripts, timed the same way.

Run with the Python of a venv that has benchmarks/requirements-sb3.txt installed; `speed.py` calls it.
Prints one line of JSON: training-phase steps/s (from learning_starts to the end), final mean
deterministic evaluation return over 10 episodes.
"""

import argparse
import json
import time

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import DDPG, DQN, SAC
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.noise import NormalActionNoise


class TrainingPhaseClock(BaseCallback):
    """Notes the wall time when learning starts and when the run ends."""

    def __init__(self, learning_starts: int):
        super().__init__()
        self.learning_starts, self.start, self.end = learning_starts, None, None

    def _on_step(self) -> bool:
        if self.start is None and self.num_timesteps >= self.learning_starts:
            self.start = time.perf_counter()
        return True

    def _on_training_end(self) -> None:
        self.end = time.perf_counter()


def make_model(algo: str, env: gym.Env, args) -> object:
    common = dict(learning_starts=args.learning_starts, gamma=0.99, seed=args.seed, device="cpu", verbose=0)
    if algo == "ddpg":
        half_range = 0.5 * (env.action_space.high - env.action_space.low)
        noise = NormalActionNoise(np.zeros_like(half_range), 0.1 * half_range)
        return DDPG(
            "MlpPolicy",
            env,
            learning_rate=3e-4,
            buffer_size=1_000_000,
            batch_size=256,
            tau=0.005,
            train_freq=1,
            gradient_steps=1,
            action_noise=noise,
            policy_kwargs=dict(net_arch=[256, 256]),
            **common,
        )
    if algo == "sac":
        return SAC(
            "MlpPolicy",
            env,
            learning_rate=3e-4,
            buffer_size=1_000_000,
            batch_size=256,
            tau=0.005,
            train_freq=1,
            gradient_steps=1,
            ent_coef="auto",
            policy_kwargs=dict(net_arch=[256, 256]),
            **common,
        )
    return DQN(
        "MlpPolicy",
        env,
        learning_rate=2.5e-4,
        buffer_size=10_000,
        batch_size=128,
        tau=1.0,
        train_freq=10,
        gradient_steps=1,
        target_update_interval=500,
        exploration_fraction=0.5,
        exploration_final_eps=0.05,
        policy_kwargs=dict(net_arch=[120, 84]),
        **common,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--algo", choices=["ddpg", "sac", "dqn"], required=True, help="SB3's algorithm")
    parser.add_argument("--env-id", required=True, help="the env")
    parser.add_argument("--total-timesteps", type=int, required=True, help="the budget")
    parser.add_argument("--learning-starts", type=int, required=True, help="random steps before learning")
    parser.add_argument("--seed", type=int, default=1, help="the seed")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    env = gym.make(args.env_id)
    model = make_model(args.algo, env, args)
    clock = TrainingPhaseClock(args.learning_starts)
    model.learn(total_timesteps=args.total_timesteps, callback=clock)
    sps = (args.total_timesteps - args.learning_starts) / (clock.end - clock.start)
    eval_env = Monitor(gym.make(args.env_id))
    mean_return, _ = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    print(json.dumps({"sps": sps, "eval_return": float(mean_return)}))


if __name__ == "__main__":
    main()
