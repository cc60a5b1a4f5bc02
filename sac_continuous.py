"""Soft Actor-Critic (SAC) for continuous actions, in one file.

SAC is DDPG with a maximum-entropy objective: the agent maximizes return plus alpha times the entropy
of its policy, which keeps it exploring and makes learning steadier. The policy is stochastic,
a = bound(tanh(u)) with u ~ N(mean(s), std(s)), sampled with the reparameterization trick
u = mean + std * eps, eps ~ N(0, 1), so gradients flow through the sample. Twin critics Q1, Q2 and
the minimum of the two curb the overestimation that a single critic suffers. For a batch of
(s, a, r, s', terminated), with a' ~ pi(.|s') and a~ ~ pi(.|s) freshly sampled:

    TD target     y       = r + gamma * (1 - terminated) * (min_i Q'_i(s', a') - alpha * log pi(a'|s'))
    critic loss   L(phi)  = mean (Q1(s, a) - y)^2 + mean (Q2(s, a) - y)^2
    actor loss    J(th)   = mean (alpha * log pi(a~|s) - min_i Q_i(s, a~))
    alpha loss    J(alpha)= -mean (log alpha * (log pi(a~|s) + target_entropy))   (alpha up when entropy is low)
    targets       phi'_i  <- (1 - tau) phi'_i + tau phi_i

Exploration is the policy's own sampling, after `learning_starts` steps of uniform random actions.
Evaluation acts with the squashed mean, bound(tanh(mean(s))).

    python sac_continuous.py --env-id Pendulum-v1
    tensorboard --logdir runs
"""

from __future__ import annotations

import copy
import datetime
import math
import os
import pickle
import random
import signal
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, fields

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from torch.utils.tensorboard import SummaryWriter

SCRIPT = os.path.basename(__file__)


@dataclass
class Args:
    exp_name: str = SCRIPT.removesuffix(".py")
    """name of the experiment, part of the run name `{env_id}__{exp_name}__{seed}__{time}`"""
    seed: int = 1
    """seed of python, numpy, torch and the environments"""
    torch_deterministic: bool = True
    """make cuDNN choose deterministic kernels (same seed, same device: same results)"""
    device: str = "auto"
    """training device: `auto` (cuda when available, else cpu), `cpu`, `cuda`, `cuda:1`, ..."""
    runs_dir: str = "runs"
    """folder that holds one subfolder per run: TensorBoard logs, checkpoints and videos"""

    env_id: str = "Pendulum-v1"
    """gymnasium id of an environment with a bounded Box action space"""
    total_timesteps: int = 20_000
    """environment steps to train for, summed over all parallel envs"""
    num_envs: int = 1
    """parallel environments stepped together (one gradient step per vector step)"""
    buffer_size: int = 1_000_000
    """replay buffer capacity, in transitions"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 0.005
    """target smoothing coefficient: target <- (1 - tau) target + tau online"""
    batch_size: int = 256
    """transitions per gradient step"""
    policy_lr: float = 3e-4
    """Adam learning rate of the policy"""
    q_lr: float = 1e-3
    """Adam learning rate of the twin critics and of the entropy temperature"""
    learning_starts: int = 2_000
    """steps of uniform random actions before learning begins"""
    policy_frequency: int = 2
    """every this many critic updates, make this many policy (and alpha) updates: the ratio stays 1"""
    alpha: float = 0.2
    """entropy temperature when --no-autotune; autotuning starts from alpha = 1"""
    autotune: bool = True
    """tune alpha so that the policy's entropy tracks --target-entropy"""
    target_entropy: float | None = None
    """entropy the autotuned alpha aims for; default -dim(A)"""

    eval_frequency: int = 5_000
    """evaluate the deterministic policy every this many steps, and at the end (0: only at the end)"""
    eval_episodes: int = 10
    """episodes per evaluation"""
    log_frequency: int = 1_000
    """write losses and speed to TensorBoard, check them for NaN, and print progress, every this many steps"""
    checkpoint_frequency: int = 10_000
    """write a checkpoint every this many steps, and at the end (0: only at the end)"""
    save_buffer: bool = False
    """also put the replay buffer in periodic and final checkpoints (one written on Ctrl-C or SIGTERM always has it)"""
    resume: str | None = None
    """checkpoint to continue training from; its saved settings become the defaults, so any flag given wins"""
    evaluate: str | None = None
    """checkpoint to load and evaluate for `eval_episodes` episodes, without training"""
    capture_video: bool = False
    """record evaluation episodes as mp4 files in the run's videos/ folder"""


class ConfigError(Exception):
    """Bad input: printed as a one-line error, exit status 2."""


def check_args(args: Args) -> None:
    for f in fields(args):
        if isinstance(getattr(args, f.name), float) and not math.isfinite(getattr(args, f.name)):
            raise ConfigError(f"--{f.name.replace('_', '-')} must be a finite number, got {getattr(args, f.name)}")
    positive = ["total_timesteps", "num_envs", "buffer_size", "batch_size", "policy_frequency",
                "eval_episodes", "log_frequency"]
    for name in positive:
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    for name in ["learning_starts", "eval_frequency", "checkpoint_frequency"]:
        if getattr(args, name) < 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be 0 or more, got {getattr(args, name)}")
    if args.batch_size > args.buffer_size:
        raise ConfigError(f"--batch-size {args.batch_size} is larger than --buffer-size {args.buffer_size}: "
                          "lower the batch size or raise the buffer size")
    if not 0.0 <= args.gamma <= 1.0:
        raise ConfigError(f"--gamma must lie in [0, 1], got {args.gamma}")
    if not 0.0 < args.tau <= 1.0:
        raise ConfigError(f"--tau must lie in (0, 1], got {args.tau}")
    for name in ["policy_lr", "q_lr"]:
        if getattr(args, name) <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if not args.autotune and args.alpha < 0:
        raise ConfigError(f"--alpha must be 0 or more, got {args.alpha}")


# ---------------------------------------------------------------------------------------------
# Environments
# ---------------------------------------------------------------------------------------------
def make_env(env_id: str, render: bool = False) -> gym.Env:
    if render:  # frames are drawn off-screen; the dummy driver stops SDL from looking for a display
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    try:
        return gym.make(env_id, render_mode="rgb_array") if render else gym.make(env_id)
    except (gym.error.Error, ModuleNotFoundError) as e:
        message = " ".join(str(e).split())
        raise ConfigError(f"unknown environment id {env_id!r} ({message}); check the spelling and "
                          "version, or install the package that registers it") from None


def check_spaces(env_id: str, observation_space: gym.Space, action_space: gym.Space) -> None:
    if isinstance(action_space, gym.spaces.Discrete):
        raise ConfigError(f"{env_id} has a discrete action space: use dqn_discrete.py")
    if not isinstance(action_space, gym.spaces.Box):
        raise ConfigError(f"{env_id} has a {type(action_space).__name__} action space; SAC needs a Box "
                          "(wrap the env to expose a Box)")
    if not (np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all()):
        raise ConfigError(f"{env_id} has an unbounded action space; SAC needs finite low and high "
                          "(wrap it with gymnasium.wrappers.ClipAction or RescaleAction to bounded values)")
    if not isinstance(observation_space, gym.spaces.Box):
        raise ConfigError(f"{env_id} has a {type(observation_space).__name__} observation space; SAC needs "
                          "a Box (wrap it with gymnasium.wrappers.FlattenObservation)")


def make_train_envs(args: Args) -> gym.vector.VectorEnv:
    probe = make_env(args.env_id)  # fail early, with a clear message, before building the vector env
    check_spaces(args.env_id, probe.observation_space, probe.action_space)
    probe.close()
    # SAME_STEP autoreset: an ending step returns the next episode's first observation and puts the
    # true last one in infos["final_obs"], so no stored transition ever crosses an episode boundary.
    envs = gym.vector.SyncVectorEnv([lambda: make_env(args.env_id)] * args.num_envs,
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    return gym.wrappers.vector.RecordEpisodeStatistics(envs)


# ---------------------------------------------------------------------------------------------
# Replay buffer
# ---------------------------------------------------------------------------------------------
def free_memory(device: torch.device) -> int:
    """Bytes that can still be allocated on the device: CUDA's free memory, or what Linux reports as available."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        return sys.maxsize  # unknown on this system: let the allocation itself decide


class ReplayBuffer:
    """Circular buffer of transitions (s, a, r, s', terminated), preallocated on the training device.

    Each row holds one whole transition side by side, [s | a | r | s' | terminated], so that storing a
    step is one copy and sampling a batch is one gather, not five of each.
    """

    def __init__(self, capacity: int, obs_dim: int, action_dim: int, device: torch.device):
        self.capacity, self.device, self.pos, self.size = capacity, device, 0, 0
        self.obs_dim, self.action_dim = obs_dim, action_dim
        row_size = 2 * obs_dim + action_dim + 2
        needed, free = capacity * row_size * 4, free_memory(device)  # float32 rows
        if needed > free:
            raise ConfigError(f"a replay buffer of {capacity} transitions needs {needed / 2**30:.1f} GiB but {device} has "
                              f"{free / 2**30:.1f} GiB free: lower --buffer-size")
        print(f"replay buffer: {capacity} transitions x {row_size} floats = {needed / 2**20:.0f} MiB on {device}")
        self.rows = torch.zeros((capacity, row_size), device=device)

    def add(self, obs, actions, rewards, next_obs, terminated) -> None:
        """Store one row per env (numpy arrays); the oldest rows are overwritten once the buffer is full."""
        n = len(obs)
        new = np.concatenate([obs.reshape(n, -1), actions.reshape(n, -1), rewards.reshape(n, 1),
                              next_obs.reshape(n, -1), terminated.reshape(n, 1)], axis=1)
        first = min(n, self.capacity - self.pos)  # rows past the end of the buffer wrap around to its start
        self.rows[self.pos:self.pos + first] = torch.as_tensor(new[:first], device=self.device)
        if first < n:
            self.rows[:n - first] = torch.as_tensor(new[first:], device=self.device)
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def split(self, rows: torch.Tensor):
        """(obs, actions, rewards, next_obs, terminated) as views of the columns of `rows`."""
        o, a = self.obs_dim, self.action_dim
        return rows[:, :o], rows[:, o:o + a], rows[:, o + a], rows[:, o + a + 1:2 * o + a + 1], rows[:, -1]

    def sample(self, batch_size: int):
        return self.split(self.rows[torch.randint(self.size, (batch_size,), device=self.device)])

    def state_dict(self) -> dict:
        return {"pos": self.pos, "size": self.size, "capacity": self.capacity, "rows": self.rows[:self.size].clone()}

    def load_state_dict(self, state: dict) -> None:
        rows, self.pos, self.size = state["rows"], state["pos"], state["size"]
        if state.get("capacity", self.capacity) != self.capacity:  # another --buffer-size: the newest rows, oldest first
            rows = torch.cat([rows[self.pos:], rows[:self.pos]])[-self.capacity:]
            self.pos, self.size = len(rows) % self.capacity, len(rows)
        self.rows[:self.size] = rows


# ---------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


def bound_action(x: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Squash x into [low, high] per dimension with tanh; unlike clip, tanh keeps the gradient alive."""
    return 0.5 * (high + low) + 0.5 * (high - low) * torch.tanh(x)


def squashed_log_prob(u: torch.Tensor, eps: torch.Tensor, log_std: torch.Tensor, half_range: torch.Tensor) -> torch.Tensor:
    """log pi(a|s) for a = mid + half_range * tanh(u), u = mean + std * eps: one value per row.

    Change of variables: log pi(a) = log N(u) - sum log |da/du|, with da/du = half_range * (1 - tanh(u)^2).
    log(1 - tanh(u)^2) is computed as 2 (log 2 - u - softplus(-2u)), which stays finite when tanh saturates.
    """
    log_normal = -0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)
    log_tanh_derivative = 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))
    return (log_normal - log_tanh_derivative - torch.log(half_range)).sum(-1)


class Actor(nn.Module):
    """pi(a|s): observation -> 256 -> 256 -> mean and log std of u; a = bound(tanh(u)) in [low, high]."""

    def __init__(self, obs_dim: int, action_low: np.ndarray, action_high: np.ndarray):
        super().__init__()
        action_dim = len(action_low)
        # in-place ReLU writes over the layer's output instead of a fresh buffer: the update runs about 7% faster
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(obs_dim, 256), nn.ReLU(inplace=True),
                                   nn.Linear(256, 256), nn.ReLU(inplace=True))
        self.mean = nn.Linear(256, action_dim)
        self.log_std = nn.Linear(256, action_dim)
        self.register_buffer("low", torch.as_tensor(action_low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(action_high, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(obs)
        # tanh maps the raw output smoothly into [LOG_STD_MIN, LOG_STD_MAX]: no dead gradient as a clamp would give
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(self.log_std(h)) + 1)
        return self.mean(h), log_std

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterized action a ~ pi(.|s) and its log-probability, shapes (batch, dim) and (batch,)."""
        mean, log_std = self(obs)
        eps = torch.randn_like(mean)
        u = mean + log_std.exp() * eps  # the noise is an input, so gradients reach mean and std
        return bound_action(u, self.low, self.high), squashed_log_prob(u, eps, log_std, 0.5 * (self.high - self.low))

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        """The evaluation action: the squashed mean."""
        return bound_action(self(obs)[0], self.low, self.high)


class TwinCritic(nn.Module):
    """Q1(s, a) and Q2(s, a), each [observation, action] -> 256 -> 256 -> 1, returned as shape (2, batch).

    Each layer stores both networks' weights stacked, so one batched matmul (baddbmm) runs both at once.
    """

    def __init__(self, obs_dim: int, action_dim: int):
        super().__init__()
        sizes = [obs_dim + action_dim, 256, 256, 1]
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1 / math.sqrt(fan_in)  # nn.Linear's default initialization, drawn for each network
            self.weights.append(nn.Parameter(torch.empty(2, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(2, 1, fan_out).uniform_(-bound, bound)))

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs.flatten(1), action], dim=1).expand(2, -1, -1)
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(bias, x, weight)
            if i < len(self.weights) - 1:
                x = torch.relu_(x)
        return x.squeeze(-1)


# ---------------------------------------------------------------------------------------------
# Update rules
# ---------------------------------------------------------------------------------------------
def soft_td_target(reward: torch.Tensor, terminated: torch.Tensor, next_q: torch.Tensor,
                   next_log_prob: torch.Tensor, alpha: torch.Tensor, gamma: float) -> torch.Tensor:
    """y = r + gamma * (1 - terminated) * (min_i Q'_i(s', a') - alpha * log pi(a'|s')), a' ~ pi(.|s').

    next_q has shape (2, batch). Only termination zeroes the future: a time-limit truncation still bootstraps.
    """
    return reward + gamma * (1.0 - terminated) * (next_q.min(dim=0).values - alpha * next_log_prob)


def critic_loss(q: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sum of both critics' mean squared TD errors; q is (2, batch), y is (batch,) and carries no gradient."""
    return F.mse_loss(q[0], y) + F.mse_loss(q[1], y)


def actor_loss(log_prob: torch.Tensor, q: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """mean(alpha * log pi(a~|s) - min_i Q_i(s, a~)): high Q and high entropy both lower it. Shapes (batch,), (2, batch)."""
    return (alpha * log_prob - q.min(dim=0).values).mean()


def alpha_loss(log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """-mean(log alpha * (log pi + target_entropy)): its gradient, entropy - target, raises alpha when entropy is low."""
    return -(log_alpha * (log_prob.detach() + target_entropy)).mean()


def update_critic(critic: TwinCritic, critic_optimizer: torch.optim.Optimizer, actor: Actor, target_critic: TwinCritic,
                  batch: tuple[torch.Tensor, ...], alpha: torch.Tensor, gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One gradient step on both critics; returns each critic's squared TD error and mean Q, shapes (2,), detached."""
    obs, actions, rewards, next_obs, terminated = batch
    with torch.no_grad():  # y is a regression label: no gradient may flow into the targets or the policy
        next_actions, next_log_prob = actor.sample(next_obs)
        y = soft_td_target(rewards, terminated, target_critic(next_obs, next_actions), next_log_prob, alpha, gamma)
    q = critic(obs, actions)
    loss = critic_loss(q, y)
    critic_optimizer.zero_grad(set_to_none=True)
    loss.backward()
    critic_optimizer.step()
    q = q.detach()
    return (q - y).pow(2).mean(dim=1), q.mean(dim=1)


def update_actor(actor: Actor, actor_optimizer: torch.optim.Optimizer, critic: TwinCritic, obs: torch.Tensor,
                 alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One gradient step on the policy; returns its loss and the log-probabilities of its actions, detached."""
    critic.requires_grad_(False)  # the policy step needs dQ/da, not gradients for the critics' weights
    actions, log_prob = actor.sample(obs)
    loss = actor_loss(log_prob, critic(obs, actions), alpha)
    actor_optimizer.zero_grad(set_to_none=True)
    loss.backward()
    actor_optimizer.step()
    critic.requires_grad_(True)
    return loss.detach(), log_prob.detach()


def update_alpha(log_alpha: torch.Tensor, alpha_optimizer: torch.optim.Optimizer, log_prob: torch.Tensor,
                 target_entropy: float) -> torch.Tensor:
    """One gradient step on the temperature; returns its loss, detached."""
    loss = alpha_loss(log_alpha, log_prob, target_entropy)
    alpha_optimizer.zero_grad(set_to_none=True)
    loss.backward()
    alpha_optimizer.step()
    return loss.detach()


@torch.no_grad()
def polyak_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """target <- (1 - tau) target + tau online (the lecture's rho is 1 - tau), fused over all tensors."""
    torch._foreach_lerp_(list(target.parameters()), list(online.parameters()), tau)


# ---------------------------------------------------------------------------------------------
# Evaluation and checkpoints
# ---------------------------------------------------------------------------------------------
def evaluate(actor: Actor, env_id: str, episodes: int, seed: int, video_dir: str | None = None,
             video_prefix: str = "eval") -> np.ndarray:
    """Returns of `episodes` episodes acting with the squashed mean action; env seeds seed, seed+1, ..."""
    env = make_env(env_id, render=video_dir is not None)
    if video_dir is not None:
        env = gym.wrappers.RecordVideo(env, video_dir, name_prefix=video_prefix, episode_trigger=lambda _: True,
                                       disable_logger=True)
    device = next(actor.parameters()).device
    returns = np.zeros(episodes)
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            with torch.inference_mode():
                action = actor.deterministic(torch.as_tensor(obs, dtype=torch.float32, device=device)[None])[0]
            obs, reward, terminated, truncated, _ = env.step(action.cpu().numpy())
            returns[episode] += reward
            done = terminated or truncated
    env.close()
    return returns


def rng_states() -> dict:
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(path: str, state: dict) -> None:
    # Write then rename: a run killed mid-save never leaves a half-written checkpoint behind.
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)


def load_checkpoint(path: str) -> dict:
    if not os.path.isfile(path):
        raise ConfigError(f"checkpoint {path!r} not found: give the path of a checkpoint.pt under {Args.runs_dir}/")
    try:  # weights_only=False because the file holds RNG states and settings; load only checkpoints you trust.
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise ConfigError(f"{path!r} cannot be read as a checkpoint ({type(e).__name__}: {e}); it may be truncated or "
                          "not a checkpoint: give another checkpoint.pt") from None
    if not isinstance(checkpoint, dict):
        raise ConfigError(f"{path!r} is not a checkpoint of {SCRIPT}: give a checkpoint.pt that {SCRIPT} wrote")
    checkpoint.setdefault("script", SCRIPT if "log_alpha" in checkpoint else None)  # older checkpoints: by content
    if checkpoint["script"] != SCRIPT:
        fix = f"use {checkpoint['script']}" if checkpoint["script"] else f"give a checkpoint.pt that {SCRIPT} wrote"
        raise ConfigError(f"{path!r} was not written by {SCRIPT} but by {checkpoint['script'] or 'something else'}: {fix}")
    return checkpoint


def parse_args() -> tuple[Args, dict | None]:
    """The command line, and the checkpoint named by --resume or --evaluate, whose settings are then the defaults."""
    args = tyro.cli(Args)
    if not (args.resume or args.evaluate):
        return args, None
    checkpoint = load_checkpoint(args.evaluate or args.resume)
    saved = Args(**{f.name: checkpoint["args"][f.name] for f in fields(Args) if f.name in checkpoint["args"]})
    saved.resume, saved.evaluate = args.resume, args.evaluate
    args = tyro.cli(Args, default=saved)  # parsed again over the saved settings: every flag given wins
    if args.env_id != saved.env_id:
        raise ConfigError(f"--env-id {args.env_id} differs from the checkpoint's {saved.env_id}: a run keeps its env "
                          "(drop --env-id, or start a new run without --resume)")
    return args, checkpoint


def env_state(envs: gym.vector.VectorEnv) -> bytes | None:
    """The vector env pickled whole (episodes in progress, their statistics, the envs' RNGs), or None where it cannot be."""
    sync = envs.unwrapped
    env_fns, sync.env_fns = sync.env_fns, None  # closures cannot be pickled, and a restored vector env is never rebuilt
    try:  # an EzPickle env (MuJoCo's) pickles as its constructor's arguments: its attributes carry the simulator's state
        return pickle.dumps((envs, [vars(env.unwrapped) for env in sync.envs]))
    except Exception:
        return None
    finally:
        sync.env_fns = env_fns


def restore_envs(state: bytes) -> gym.vector.VectorEnv:
    envs, attributes = pickle.loads(state)
    for env, saved in zip(envs.unwrapped.envs, attributes):
        vars(env.unwrapped).update(saved)
    return envs


def is_due(global_step: int, every: int, num_envs: int) -> bool:
    """True on the vector step in which global_step, advancing by num_envs, reached a multiple of `every`."""
    return global_step % every < num_envs


def all_finite(tensors: list[torch.Tensor]) -> bool:
    return bool(torch.stack([t.isfinite().all() for t in tensors]).all())


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r} is not a torch device: use auto, cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name} asked for, but torch sees no CUDA GPU: use --device cpu")
    return device


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------
def train(args: Args, checkpoint: dict | None = None) -> float:
    """Train SAC, or continue the run `checkpoint` holds; returns the final mean evaluation return."""
    check_args(args)
    device = resolve_device(args.device)

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic

    envs = make_train_envs(args)
    obs_dim = int(np.prod(envs.single_observation_space.shape))
    action_low, action_high = envs.single_action_space.low, envs.single_action_space.high
    action_dim = len(action_low)

    actor = Actor(obs_dim, action_low, action_high).to(device)
    critic = TwinCritic(obs_dim, action_dim).to(device)
    target_critic = copy.deepcopy(critic).requires_grad_(False)
    actor_optimizer = torch.optim.Adam(actor.parameters(), lr=args.policy_lr, fused=True)
    critic_optimizer = torch.optim.Adam(critic.parameters(), lr=args.q_lr, fused=True)
    # alpha = exp(log_alpha): optimizing the log keeps alpha positive
    log_alpha = torch.log(torch.tensor([1.0 if args.autotune else args.alpha], device=device)).requires_grad_(args.autotune)
    alpha_optimizer = torch.optim.Adam([log_alpha], lr=args.q_lr, fused=True)
    target_entropy = -float(action_dim) if args.target_entropy is None else args.target_entropy
    rb = ReplayBuffer(args.buffer_size, obs_dim, action_dim, device)
    modules = {"actor": actor, "critic": critic, "target_critic": target_critic, "actor_optimizer": actor_optimizer,
               "critic_optimizer": critic_optimizer, "alpha_optimizer": alpha_optimizer}
    weights = [p for net in (actor, critic, target_critic) for p in net.parameters()] + [log_alpha]

    # refill_until: after a resume without the replay buffer, no update until it holds learning_starts new transitions
    global_step, num_updates, episodes_done, refill_until = 0, 0, 0, 0
    recent_returns = deque(maxlen=10)
    if checkpoint is not None:
        if args.total_timesteps <= checkpoint["global_step"]:
            raise ConfigError(f"the checkpoint is at step {checkpoint['global_step']} and --total-timesteps is "
                              f"{args.total_timesteps}: raise --total-timesteps to train on")
        run_dir = os.path.dirname(os.path.abspath(args.resume))
        for name, module in modules.items():
            module.load_state_dict(checkpoint[name])
        for optimizer, lr in [(actor_optimizer, args.policy_lr), (critic_optimizer, args.q_lr), (alpha_optimizer, args.q_lr)]:
            optimizer.param_groups[0]["lr"] = lr  # the flag's, not the one saved in the optimizer's state
        if args.autotune:  # a tuned alpha goes on from its saved value; a fixed one is --alpha's
            with torch.no_grad():
                log_alpha.copy_(checkpoint["log_alpha"])
        global_step, num_updates, episodes_done = (checkpoint[k] for k in ("global_step", "num_updates", "episodes_done"))
        refill_until = checkpoint.get("refill_until", 0)
        recent_returns.extend(checkpoint.get("recent_returns", []))
        set_rng_states(checkpoint["rng"])
        if checkpoint.get("buffer") is not None:
            rb.load_state_dict(checkpoint["buffer"])
            note = f"replay buffer holds {rb.size} transitions"
        else:
            refill_until = global_step + args.learning_starts
            note = f"no replay buffer saved: {args.learning_starts} new transitions before updates go on"
        if checkpoint.get("envs") is not None and checkpoint["args"]["num_envs"] == args.num_envs:
            envs.close()
            envs, obs = restore_envs(checkpoint["envs"]), checkpoint["obs"]  # the episodes in progress go on
        else:
            obs, _ = envs.reset(seed=args.seed + global_step)
            note += "; the envs start fresh episodes (the checkpoint holds no env state for this --num-envs)"
        print(f"resumed {args.resume} at step {global_step}; {note}")
    else:
        run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}".replace("/", "-").replace(":", "-")
        run_dir = os.path.join(args.runs_dir, run_name)
        obs, _ = envs.reset(seed=args.seed)
    try:
        os.makedirs(run_dir, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the run folder {run_dir!r} ({e.strerror}): give a writable --runs-dir") from None
    if env_state(envs) is None:
        print(f"note: {args.env_id}'s envs cannot be pickled, so a resumed run will start fresh episodes")
    checkpoint_path = os.path.join(run_dir, "checkpoint.pt")
    video_dir = os.path.join(run_dir, "videos") if args.capture_video else None
    # a resumed run drops what the stopped one logged after its checkpoint's step
    writer = SummaryWriter(run_dir, purge_step=global_step + 1 if checkpoint else None)
    if checkpoint is None:
        writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in asdict(args).items()))

    def training_state(with_buffer: bool) -> dict:
        state = {name: copy.deepcopy(module.state_dict()) for name, module in modules.items()}
        state.update(script=SCRIPT, args=asdict(args), log_alpha=log_alpha.detach().clone(), global_step=global_step,
                     num_updates=num_updates, episodes_done=episodes_done, refill_until=refill_until,
                     recent_returns=list(recent_returns), envs=env_state(envs), obs=obs.copy(), rng=rng_states(),
                     buffer=rb.state_dict() if with_buffer else None)
        return state

    def stop_diverged(what: str, fix: str = "lower --q-lr and --policy-lr, or check the env's rewards and observations"):
        save_checkpoint(checkpoint_path, last_good_state)
        writer.close()
        envs.close()
        print(f"error: {what} became NaN or inf between steps {last_good_state['global_step']} and {global_step}; "
              f"{checkpoint_path} holds the last finite state (step {last_good_state['global_step']}): {fix}",
              file=sys.stderr)
        raise SystemExit(1)

    stop_signal = None

    def request_stop(signum, _frame):
        nonlocal stop_signal
        stop_signal = signum
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops at once

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    # Running sums of the losses since the last log, kept on the device: no host sync per step.
    loss_sums = torch.zeros(7, device=device)  # Q1, Q2 losses; Q1, Q2 means; actor, alpha losses; entropy
    updates_since_log, actor_updates_since_log = 0, 0
    last_good_state = training_state(with_buffer=False)
    eval_seed = args.seed + 1_000_000  # evaluation episodes never share seeds with training
    final_eval = float("nan")
    learn_from = max(args.learning_starts, refill_until)
    last_log_time, last_log_step = time.time(), global_step

    while global_step < args.total_timesteps:
        # 1. Act: uniform random actions first, then samples from the policy.
        if global_step < args.learning_starts:
            actions = np.random.uniform(action_low, action_high, (args.num_envs, action_dim)).astype(np.float32)
        else:
            with torch.inference_mode():
                actions, _ = actor.sample(torch.as_tensor(obs, dtype=torch.float32, device=device))
                actions = actions.cpu().numpy()
            if not np.isfinite(actions).all():  # the actions come to the host anyway: a free check every step
                stop_diverged("the policy's action")
        next_obs, rewards, terminations, truncations, infos = envs.step(actions)
        global_step += args.num_envs

        # 2. Store (s, a, r, s', terminated). An episode that ended this step reports its true last
        # observation in final_obs; next_obs already holds the first observation of the next episode.
        real_next_obs = next_obs.copy()
        if "final_obs" in infos:
            for i in np.flatnonzero(infos["_final_obs"]):
                real_next_obs[i] = infos["final_obs"][i]
        if not (np.isfinite(rewards).all() and np.isfinite(real_next_obs).all()):  # before it reaches the buffer
            stop_diverged("the env's " + ("reward" if np.isfinite(real_next_obs).all() else "observation"),
                          "check the env: its rewards and observations must be finite numbers")
        rb.add(obs, actions, rewards, real_next_obs, terminations)
        obs = next_obs

        if "episode" in infos:
            for i in np.flatnonzero(infos["_episode"]):
                episodes_done += 1
                recent_returns.append(float(infos["episode"]["r"][i]))
                writer.add_scalar("charts/episodic_return", infos["episode"]["r"][i], global_step)
                writer.add_scalar("charts/episodic_length", infos["episode"]["l"][i], global_step)

        # 3. Learn: one critic step per vector step; every policy_frequency steps, as many policy steps.
        if global_step >= learn_from and rb.size >= args.batch_size:
            batch = rb.sample(args.batch_size)
            alpha = log_alpha.detach().exp()
            qf_losses, q_means = update_critic(critic, critic_optimizer, actor, target_critic, batch, alpha, args.gamma)
            polyak_update(target_critic, critic, args.tau)
            num_updates += 1
            updates_since_log += 1
            loss_sums[0:2] += qf_losses
            loss_sums[2:4] += q_means

            if num_updates % args.policy_frequency == 0:
                for _ in range(args.policy_frequency):  # as many policy steps as were skipped: the same total
                    pi_loss, log_prob = update_actor(actor, actor_optimizer, critic, batch[0], alpha)
                    if args.autotune:
                        loss_sums[5] += update_alpha(log_alpha, alpha_optimizer, log_prob, target_entropy)
                        alpha = log_alpha.detach().exp()
                    loss_sums[4] += pi_loss
                    loss_sums[6] -= log_prob.mean()
                    actor_updates_since_log += 1

        # 4. Log (checking the losses and weights are finite), evaluate, checkpoint.
        finished = global_step >= args.total_timesteps
        stopping = stop_signal is not None  # read once: a signal arriving later in this step is seen at the next
        save_now = finished or stopping or (args.checkpoint_frequency and is_due(global_step, args.checkpoint_frequency,
                                                                                 args.num_envs))
        log_now = is_due(global_step, args.log_frequency, args.num_envs)
        if save_now or log_now:
            if not torch.isfinite(loss_sums).all():
                stop_diverged("a loss")
            if not all_finite(weights):
                stop_diverged("the weights")
            if updates_since_log:
                sums = loss_sums.tolist()
                for i, tag in enumerate(["qf1_loss", "qf2_loss", "qf1_values", "qf2_values"]):
                    writer.add_scalar(f"losses/{tag}", sums[i] / updates_since_log, global_step)
                writer.add_scalar("losses/qf_loss", (sums[0] + sums[1]) / updates_since_log, global_step)
                writer.add_scalar("losses/alpha", log_alpha.exp().item(), global_step)
                if actor_updates_since_log:
                    writer.add_scalar("losses/actor_loss", sums[4] / actor_updates_since_log, global_step)
                    writer.add_scalar("losses/entropy", sums[6] / actor_updates_since_log, global_step)
                    if args.autotune:
                        writer.add_scalar("losses/alpha_loss", sums[5] / actor_updates_since_log, global_step)
            loss_sums.zero_()
            updates_since_log, actor_updates_since_log = 0, 0
            last_good_state = training_state(with_buffer=False)
        if log_now:  # a full interval only: a stop or a last step between two logs writes no rate
            now = time.time()
            sps = (global_step - last_log_step) / max(now - last_log_time, 1e-9)
            writer.add_scalar("charts/SPS", sps, global_step)
            warm_up = global_step < learn_from
            # time left in the phase the run is in; none from an interval that spans the start of learning
            seconds_left = ((learn_from if warm_up else args.total_timesteps) - global_step) / max(sps, 1e-9)
            left = "?:??:??" if last_log_step < learn_from <= global_step else datetime.timedelta(seconds=int(seconds_left))
            last_log_time, last_log_step = now, global_step
            recent = f"{np.mean(recent_returns):9.1f}" if recent_returns else "        -"
            print(f"step {global_step:>8}/{args.total_timesteps} | episodes {episodes_done:>5} | return (last 10) "
                  f"{recent} | {sps:6.0f} steps/s | {left} left" + (" of the warm-up" if warm_up else ""), flush=True)

        if (args.eval_frequency and is_due(global_step, args.eval_frequency, args.num_envs)) or finished:
            returns = evaluate(actor, args.env_id, args.eval_episodes, eval_seed, video_dir, f"eval-step{global_step}")
            final_eval = float(returns.mean())
            writer.add_scalar("eval/episodic_return", final_eval, global_step)
            print(f"eval at step {global_step}: return {final_eval:.1f} +- {returns.std():.1f} "
                  f"over {args.eval_episodes} episodes", flush=True)

        if save_now:  # the checkpoint of a stop by signal carries the buffer: it is the one a user resumes
            save_checkpoint(checkpoint_path, training_state(with_buffer=args.save_buffer or stopping))
        if stopping:
            writer.close()
            envs.close()
            print(f"stopped by signal {stop_signal} at step {global_step}; checkpoint written to {checkpoint_path}; "
                  f"continue with: python {SCRIPT} --resume {checkpoint_path}", flush=True)
            raise SystemExit(128 + stop_signal)

    writer.close()
    envs.close()
    print(f"done: {global_step} steps, final evaluation return {final_eval:.1f}; checkpoint {checkpoint_path}")
    return final_eval


def evaluate_checkpoint(args: Args, checkpoint: dict) -> float:
    """Evaluate a checkpoint's actor, recording every episode when --capture-video is on."""
    check_args(args)
    env = make_env(args.env_id)
    check_spaces(args.env_id, env.observation_space, env.action_space)
    obs_dim = int(np.prod(env.observation_space.shape))
    actor = Actor(obs_dim, env.action_space.low, env.action_space.high)
    actor.load_state_dict(checkpoint["actor"])
    env.close()
    video_dir = os.path.join(os.path.dirname(os.path.abspath(args.evaluate)), "videos") if args.capture_video else None
    returns = evaluate(actor, args.env_id, args.eval_episodes, args.seed + 1_000_000, video_dir,
                       f"evaluate-step{checkpoint['global_step']}")
    print(f"{args.env_id} checkpoint at step {checkpoint['global_step']}: return {returns.mean():.1f} "
          f"+- {returns.std():.1f} over {args.eval_episodes} episodes")
    return float(returns.mean())


def main() -> None:
    try:
        args, checkpoint = parse_args()
        evaluate_checkpoint(args, checkpoint) if args.evaluate else train(args, checkpoint)
    except (ConfigError, gym.error.DependencyNotInstalled) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
