"""Tiny environments for the tests, made by id as `tests.envs:NAME-v0` (importing this module registers them)."""

import gymnasium as gym
import numpy as np


class CountdownEnv(gym.Env):
    """Observation [episode index, step within episode]; episode k lasts 3 + k % 3 steps.

    Even episodes end by termination, odd ones by truncation, so a replay buffer filled from it shows
    whether transitions cross episode boundaries and whether the two endings are told apart.
    """

    def __init__(self, action_low=-1.0, action_high=1.0, action_dim=2, reward=1.0, nan_after=None):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = gym.spaces.Box(np.float32(action_low), np.float32(action_high), (action_dim,), np.float32)
        self.reward, self.nan_after = reward, nan_after
        self.episode, self.t, self.total_steps = -1, 0, 0

    def length(self) -> int:
        return 3 + self.episode % 3

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        return np.array([self.episode, 0], np.float32), {}

    def step(self, action):
        assert self.action_space.contains(np.asarray(action, np.float32)), f"action {action} out of bounds"
        self.t += 1
        self.total_steps += 1
        ended = self.t == self.length()
        terminated, truncated = ended and self.episode % 2 == 0, ended and self.episode % 2 == 1
        reward = self.reward
        if self.nan_after is not None and self.total_steps > self.nan_after:
            reward = float("nan")
        return np.array([self.episode, self.t], np.float32), reward, terminated, truncated, {}


class ChoiceEnv(gym.Env):
    """Same counting observation with a Discrete(3) action space; action 1 earns reward 1."""

    def __init__(self, nan_after=None):
        self.inner = CountdownEnv(nan_after=nan_after)
        self.observation_space = self.inner.observation_space
        self.action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        return self.inner.reset(seed=seed)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.inner.step(np.zeros(2, np.float32))
        return obs, reward * float(action == 1), terminated, truncated, info


class DictObservationEnv(CountdownEnv):
    def __init__(self):
        super().__init__()
        self.observation_space = gym.spaces.Dict({"count": gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)})


class DictChoiceEnv(ChoiceEnv):
    def __init__(self):
        super().__init__()
        self.observation_space = gym.spaces.Dict({"count": self.inner.observation_space})


gym.register("Countdown-v0", entry_point=CountdownEnv)
gym.register(
    "AngleCountdown-v0",
    entry_point=CountdownEnv,
    kwargs={"action_low": 0.0, "action_high": 2 * np.pi, "action_dim": 12},
)
gym.register("NaNReward-v0", entry_point=CountdownEnv, kwargs={"nan_after": 150})
gym.register("Unbounded-v0", entry_point=CountdownEnv, kwargs={"action_low": -np.inf, "action_high": np.inf})
gym.register("DictObservation-v0", entry_point=DictObservationEnv)
gym.register("Choice-v0", entry_point=ChoiceEnv)
gym.register("ChoiceNaN-v0", entry_point=ChoiceEnv, kwargs={"nan_after": 150})
gym.register("DictChoice-v0", entry_point=DictChoiceEnv)


class PixelsEnv(CountdownEnv):
    """The countdown seen as a 4 x 4 x 3 image (every pixel holds the step within the episode)."""

    def __init__(self):
        super().__init__()
        self.observation_space = gym.spaces.Box(0, 255, (4, 4, 3), np.float32)

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed)
        return np.full((4, 4, 3), obs[1], np.float32), info

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return np.full((4, 4, 3), obs[1], np.float32), reward, terminated, truncated, info


class PixelChoiceEnv(ChoiceEnv):
    def __init__(self):
        super().__init__()
        self.inner = PixelsEnv()
        self.observation_space = self.inner.observation_space


gym.register("Pixels-v0", entry_point=PixelsEnv)
gym.register("PixelChoice-v0", entry_point=PixelChoiceEnv)
