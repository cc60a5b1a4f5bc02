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

The names and equations follow the lecture Actor Critic II (CISC 7404 Decision Making, University of
Macau); a choice that is not the textbook's says so where it stands, with its source.

    python sac_continuous.py --env-id Pendulum-v1
    tensorboard --logdir runs
"""

from __future__ import annotations

import copy
import datetime
import functools
import importlib.util
import math
import os
import pickle
import random
import re
import signal
import sys
import time
import warnings
from collections import deque
from dataclasses import asdict, dataclass, fields

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from torch.utils.tensorboard import SummaryWriter


@dataclass
class Hyperparameters:
    """The algorithm's settings, named as the lecture names them; Args, below the banner, adds the run's."""

    env_id: str = "Pendulum-v1"
    """gymnasium id of an environment with a bounded Box action space"""
    total_timesteps: int = 8_000
    """environment steps to train for, summed over all parallel envs"""
    num_envs: int = 1
    """parallel environments stepped together (one gradient step per vector step)"""
    buffer_size: int = 1_000_000
    """replay buffer capacity, in transitions"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 0.01
    """target smoothing coefficient: target <- (1 - tau) target + tau online"""
    batch_size: int = 128
    """transitions per gradient step"""
    policy_lr: float = 1e-3
    """Adam learning rate of the policy"""
    q_lr: float = 1e-3
    """Adam learning rate of the twin critics and of the entropy temperature"""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """widths of the hidden layers of the actor and of each critic (SB3's net_arch)"""
    learning_starts: int = 1_000
    """steps of uniform random actions before learning begins"""
    policy_frequency: int = 2
    """every this many critic updates, make this many policy (and alpha) updates: the ratio stays 1"""
    alpha: float = 0.2
    """entropy temperature when --no-autotune; autotuning starts from alpha = 1"""
    autotune: bool = True
    """tune alpha so that the policy's entropy tracks --target-entropy"""
    target_entropy: float | None = None
    """entropy the autotuned alpha aims for; default -dim(A)"""


LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class Actor(nn.Module):
    """pi(a|s): observation -> hidden_sizes -> mean and log std of u; a = bound(tanh(u)) in [low, high]."""

    def __init__(self, obs_dim: int, action_low: np.ndarray, action_high: np.ndarray, hidden_sizes=(256, 256)):
        super().__init__()
        widths = [obs_dim, *hidden_sizes]
        layers = [m for n_in, n_out in zip(widths, widths[1:]) for m in (nn.Linear(n_in, n_out), nn.ReLU(inplace=True))]
        self.trunk = nn.Sequential(nn.Flatten(), *layers)
        self.mean = nn.Linear(hidden_sizes[-1], len(action_low))
        self.log_std = nn.Linear(hidden_sizes[-1], len(action_low))
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


def bound_action(x: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Squash x into [low, high] per dimension with tanh; unlike clip, tanh keeps the gradient alive."""
    return 0.5 * (high + low) + 0.5 * (high - low) * torch.tanh(x)


def squashed_log_prob(
    u: torch.Tensor, eps: torch.Tensor, log_std: torch.Tensor, half_range: torch.Tensor
) -> torch.Tensor:
    """log pi(a|s) for a = mid + half_range * tanh(u), u = mean + std * eps: one value per row.

    Change of variables: log pi(a) = log N(u) - sum log |da/du|, with da/du = half_range * (1 - tanh(u)^2).
    log(1 - tanh(u)^2) is computed as 2 (log 2 - u - softplus(-2u)), which stays finite when tanh saturates.
    """
    log_normal = -0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)
    log_tanh_derivative = 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))
    return (log_normal - log_tanh_derivative - torch.log(half_range)).sum(-1)


class Critic(nn.Module):
    """Q(s, a): [observation, action] -> hidden_sizes -> one value per row, shape (batch,)."""

    def __init__(self, obs_dim: int, action_dim: int, hidden_sizes=(256, 256)):
        super().__init__()
        widths = [obs_dim + action_dim, *hidden_sizes, 1]
        layers = [m for n_in, n_out in zip(widths, widths[1:]) for m in (nn.Linear(n_in, n_out), nn.ReLU(inplace=True))]
        self.net = nn.Sequential(*layers[:-1])

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs.flatten(1), action], dim=1)).squeeze(-1)


class TwinCritic(nn.Module):
    """Q1 and Q2: two critics of the same class, each initialized on its own; their values stacked, shape (2, batch)."""

    def __init__(self, obs_dim: int, action_dim: int, hidden_sizes=(256, 256)):
        super().__init__()
        self.q1, self.q2 = Critic(obs_dim, action_dim, hidden_sizes), Critic(obs_dim, action_dim, hidden_sizes)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.q1(obs, action), self.q2(obs, action)])


def soft_td_target(
    reward: torch.Tensor,
    terminated: torch.Tensor,
    next_q: torch.Tensor,
    next_log_prob: torch.Tensor,
    alpha: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """y = r + gamma * (1 - terminated) * (min_i Q'_i(s', a') - alpha * log pi(a'|s')), a' ~ pi(.|s').

    next_q has shape (2, batch). Only termination zeroes the future: a time-limit truncation still bootstraps.
    """
    return reward + gamma * (1.0 - terminated) * (next_q.min(dim=0).values - alpha * next_log_prob)


def critic_loss(q: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sum of both critics' mean squared TD errors; q is (2, batch), y is (batch,) and carries no gradient."""
    return F.mse_loss(q[0], y) + F.mse_loss(q[1], y)


def actor_loss(log_prob: torch.Tensor, q: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """mean(alpha * log pi(a~|s) - min_i Q_i(s, a~)): high Q and high entropy both lower it.

    Shapes (batch,) and (2, batch)."""
    return (alpha * log_prob - q.min(dim=0).values).mean()


def alpha_loss(log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """-mean(log alpha * (log pi + target_entropy)): its gradient, entropy - target, raises alpha at low entropy.

    SB3's form, on log alpha; the SAC paper and CleanRL multiply alpha itself.
    """
    return -(log_alpha * (log_prob.detach() + target_entropy)).mean()


def update_critic(
    critic: TwinCritic,
    critic_optimizer: torch.optim.Optimizer,
    actor: Actor,
    target_critic: TwinCritic,
    batch: tuple[torch.Tensor, ...],
    alpha: torch.Tensor,
    gamma: float,
) -> tuple[torch.Tensor, torch.Tensor]:
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


def update_actor(
    actor: Actor, actor_optimizer: torch.optim.Optimizer, critic: TwinCritic, obs: torch.Tensor, alpha: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One gradient step on the policy; returns its loss and the log-probabilities of its actions, detached."""
    critic.requires_grad_(False)  # the policy step needs dQ/da, not gradients for the critics' weights
    actions, log_prob = actor.sample(obs)
    loss = actor_loss(log_prob, critic(obs, actions), alpha)
    actor_optimizer.zero_grad(set_to_none=True)
    loss.backward()
    actor_optimizer.step()
    critic.requires_grad_(True)
    return loss.detach(), log_prob.detach()


def update_alpha(
    log_alpha: torch.Tensor, alpha_optimizer: torch.optim.Optimizer, log_prob: torch.Tensor, target_entropy: float
) -> torch.Tensor:
    """One gradient step on the temperature; returns its loss, detached."""
    loss = alpha_loss(log_alpha, log_prob, target_entropy)
    alpha_optimizer.zero_grad(set_to_none=True)
    loss.backward()
    alpha_optimizer.step()
    return loss.detach()


def polyak_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """target <- (1 - tau) target + tau online (the lecture's rho is 1 - tau), parameter by parameter."""
    with torch.no_grad():
        for target_param, param in zip(target.parameters(), online.parameters()):
            target_param.lerp_(param, tau)  # target + tau (online - target)


class ReplayBuffer:
    """Circular buffer of (s, a, r, s', terminated), one tensor per field, in host memory as SB3's."""

    def __init__(self, capacity: int, obs_dim: int, action_dim: int, device: torch.device):
        self.capacity = capacity
        self.device = device
        self.pos = 0  # the row the next transition goes to
        self.size = 0  # rows in use
        check_memory(capacity, 2 * obs_dim + action_dim + 2)  # refuses a buffer larger than the free memory
        self.fields = [torch.zeros((capacity, *shape)) for shape in [(obs_dim,), (action_dim,), (), (obs_dim,), ()]]
        self.arrays = [field.numpy() for field in self.fields]  # the same memory, written from numpy without copies

    def add(self, obs, actions, rewards, next_obs, terminated) -> None:
        """Store one transition per env (numpy arrays); once the buffer is full, each overwrites the oldest."""
        for i in range(len(obs)):
            for array, value in zip(self.arrays, [obs[i], actions[i], rewards[i], next_obs[i], terminated[i]]):
                array[self.pos] = np.reshape(value, array.shape[1:])
            self.pos = (self.pos + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> list[torch.Tensor]:
        """A batch drawn uniformly: [obs, actions, rewards, next_obs, terminated], each batch_size rows."""
        rows = torch.randint(self.size, (batch_size,))
        return [field[rows].to(self.device) for field in self.fields]


def train(args: Args, checkpoint: dict | None = None) -> float:
    """Train SAC, or continue the run `checkpoint` holds; returns the final mean evaluation return."""
    device = setup(args)
    envs = make_train_envs(args)
    obs_dim = int(np.prod(envs.single_observation_space.shape))
    action_low, action_high = envs.single_action_space.low, envs.single_action_space.high
    action_dim = len(action_low)

    actor = Actor(obs_dim, action_low, action_high, args.hidden_sizes).to(device)
    critic = TwinCritic(obs_dim, action_dim, args.hidden_sizes).to(device)
    target_critic = copy.deepcopy(critic).requires_grad_(False)
    actor_optimizer = torch.optim.Adam(actor.parameters(), lr=args.policy_lr, fused=True)
    critic_optimizer = torch.optim.Adam(critic.parameters(), lr=args.q_lr, fused=True)
    alpha = torch.tensor([1.0 if args.autotune else args.alpha], device=device)
    log_alpha = torch.log(alpha).requires_grad_(args.autotune)  # optimizing the log keeps alpha positive
    alpha_optimizer = torch.optim.Adam([log_alpha], lr=args.q_lr, fused=True)
    target_entropy = -float(action_dim) if args.target_entropy is None else args.target_entropy
    rb = ReplayBuffer(args.buffer_size, obs_dim, action_dim, device)
    updates = [update_critic, update_actor, update_alpha, polyak_update]
    if args.compile:  # the same functions, compiled by torch.compile; the first calls wait for the compiler
        updates = compiled(updates, device, [actor_optimizer, critic_optimizer, alpha_optimizer])
    critic_step, actor_step, alpha_step, target_step = updates

    saved = dict(actor=actor, critic=critic, target_critic=target_critic, actor_optimizer=actor_optimizer)
    saved.update(critic_optimizer=critic_optimizer, alpha_optimizer=alpha_optimizer, log_alpha=log_alpha)
    run = Run(args, saved, rb, policy="actor", charts={"losses/alpha": lambda: log_alpha.exp().item()})
    obs, _ = envs.reset(seed=args.seed)
    global_step = num_updates = 0
    if checkpoint is not None:  # go on exactly where it stopped: weights, optimizers, buffer, RNG states, envs
        envs, obs, global_step, num_updates = restore(run, checkpoint, envs)
    run.start(envs, obs, global_step, num_updates, checkpoint)

    with run:  # logs flushed and envs closed however the loop ends
        while global_step < args.total_timesteps:
            # 1. Act: uniform random actions first (CleanRL's and SB3's warm-up), then samples from the policy.
            if global_step < args.learning_starts:
                actions = np.random.uniform(action_low, action_high, (args.num_envs, action_dim)).astype(np.float32)
            else:
                with torch.inference_mode():
                    actions, _ = actor.sample(torch.as_tensor(obs, dtype=torch.float32, device=device))
                    actions = actions.cpu().numpy()
            next_obs, rewards, terminations, truncations, infos = envs.step(actions)
            global_step += args.num_envs

            # 2. Store (s, a, r, s', terminated). An episode that ended this step reports its true last
            # observation in final_obs; next_obs already holds the first observation of the next episode.
            real_next_obs = next_obs.copy()
            if "final_obs" in infos:
                for i in np.flatnonzero(infos["_final_obs"]):
                    real_next_obs[i] = infos["final_obs"][i]
            rb.add(obs, actions, rewards, real_next_obs, terminations)
            obs = next_obs

            # 3. Learn: a critic step per vector step; every policy_frequency-th, as many policy steps in a row
            # (CleanRL's scheme, the same total; the SAC paper steps the policy at every step).
            if global_step >= run.learn_from and rb.size >= args.batch_size:
                batch = rb.sample(args.batch_size)
                alpha = log_alpha.detach().exp()
                losses, q_means = critic_step(critic, critic_optimizer, actor, target_critic, batch, alpha, args.gamma)
                target_step(target_critic, critic, args.tau)
                num_updates += 1
                run.log.add_losses(qf1_loss=losses[0], qf2_loss=losses[1], qf_loss=losses.mean())
                run.log.add_losses(qf1_values=q_means[0], qf2_values=q_means[1])
                if num_updates % args.policy_frequency == 0:
                    for _ in range(args.policy_frequency):
                        pi_loss, log_prob = actor_step(actor, actor_optimizer, critic, batch[0], alpha)
                        run.log.add_losses(actor_loss=pi_loss, entropy=-log_prob.mean())
                        if args.autotune:
                            alpha_loss = alpha_step(log_alpha, alpha_optimizer, log_prob, target_entropy)
                            run.log.add_losses(alpha_loss=alpha_loss)
                            alpha = log_alpha.detach().exp()

            # 4. Record each episode that ended this step: its return and length, as CleanRL logs them.
            if "final_info" in infos:
                episode = infos["final_info"]["episode"]
                for i in np.flatnonzero(infos["final_info"]["_episode"]):
                    run.log.episode(global_step, episode["r"][i], episode["l"][i])

            # 5. Each on its schedule: NaN checks and logs, evaluation, checkpoints, the stop on Ctrl-C or SIGTERM.
            run.check_step(global_step, actions, rewards, real_next_obs)
            finished = global_step >= args.total_timesteps
            stopping = run.stop_signal.signum is not None  # read once: a signal arriving later waits for the next step
            if run.due(global_step, args.log_frequency):
                run.write_log(global_step, num_updates, obs)
            if run.due(global_step, args.eval_frequency) or finished:
                run.evaluate(global_step)
            if run.due(global_step, args.checkpoint_frequency) or finished or stopping:  # the last two carry the buffer
                run.save(global_step, num_updates, obs, with_buffer=args.save_buffer or finished or stopping)
            if stopping:
                run.stop(global_step)
    return run.final_eval


# =============================================================================================
# The algorithm is complete above. What follows is plumbing a student may skip: checking the
# arguments and the env, building the envs, evaluation, checkpoints, logging and signals.
# =============================================================================================
# ---- Specific to SAC: the only part of the plumbing that differs between the three scripts ----------------
ALGO = "SAC"
EVAL_FREQUENCY = 5_000  # steps between evaluations
LEARNING_RATES = "--q-lr and --policy-lr"  # the flags a divergence error suggests lowering
RULES = [
    ("at least 1", lambda v: v >= 1, ["policy_frequency"]),
    ("0 or more", lambda v: v >= 0, ["alpha"]),
    ("positive", lambda v: v > 0, ["policy_lr", "q_lr"]),
]  # the ranges of SAC's own flags
PRESETS = {  # the settings measured on envs other than the default's: where they come from, and the flags they set
    "MuJoCo v5": (
        "CleanRL's SAC settings and budget",
        dict(
            total_timesteps=1_000_000,
            learning_starts=5_000,
            policy_lr=3e-4,
            q_lr=1e-3,
            tau=0.005,
            batch_size=256,
            policy_frequency=2,
        ),
    )
}


def check_action_space(env_id: str, space: gym.Space) -> None:
    if isinstance(space, gym.spaces.Discrete):
        raise ConfigError(f"{env_id} has a discrete action space: use dqn_discrete.py")
    if not isinstance(space, gym.spaces.Box):
        raise ConfigError(
            f"{env_id} has a {type(space).__name__} action space; SAC needs a Box (wrap the env to expose a Box)"
        )
    if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
        raise ConfigError(
            f"{env_id} has an unbounded action space; SAC needs finite low and high "
            "(wrap it with gymnasium.wrappers.ClipAction or RescaleAction to bounded values)"
        )


def evaluation_action(actor: Actor, obs: np.ndarray, args: Args, rng: np.random.Generator) -> np.ndarray:
    """SAC evaluates the squashed mean action, bound(tanh(mean(s)))."""
    return (
        actor.deterministic(torch.as_tensor(obs, dtype=torch.float32, device=actor.low.device)[None])[0].cpu().numpy()
    )


def make_policy(obs_dim: int, action_space: gym.Space, args: Args) -> Actor:
    """The network that --evaluate loads a checkpoint's policy into."""
    return Actor(obs_dim, action_space.low, action_space.high, args.hidden_sizes)


# ---- End of the part specific to SAC ------------------------------------------------------------------------


SCRIPT = os.path.basename(__file__)
DESCRIPTION = __doc__.splitlines()[0]  # the first line of --help


# ---- Arguments ---------------------------------------------------------------------------------------------------


@dataclass
class Args(Hyperparameters):
    """Every flag: the hyperparameters above, then how the run is seeded, placed, evaluated, logged and saved."""

    exp_name: str = SCRIPT.removesuffix(".py")
    """name of the experiment, part of the run name `{env_id}__{exp_name}__{seed}__{time}`"""
    seed: int = 1
    """seed of python, numpy, torch and the environments"""
    torch_deterministic: bool = True
    """make cuDNN choose deterministic kernels (same seed, same device: same results)"""
    device: str = "auto"
    """training device: `auto` (cuda when available, else cpu), `cpu`, `cuda`, `cuda:1`, ..."""
    threads: int = 1
    """torch's CPU threads: one stays fast beside other work on the CPU; 0 keeps torch's default (one per core)"""
    compile: bool = False
    """compile the update functions with torch.compile (on CUDA: captured as CUDA graphs); the first updates wait"""
    runs_dir: str = "runs"
    """folder that holds one subfolder per run: TensorBoard logs, checkpoints and videos"""

    eval_frequency: int = EVAL_FREQUENCY
    """evaluate the deterministic policy every this many steps, and at the end (0: only at the end)"""
    eval_episodes: int = 10
    """episodes per evaluation"""
    log_frequency: int = 1_000
    """write losses and speed to TensorBoard, check them for NaN, and print progress, every this many steps"""
    checkpoint_frequency: int = 10_000
    """write a checkpoint every this many steps, and at the end (0: only at the end)"""
    save_buffer: bool = False
    """also put the replay buffer in periodic checkpoints (the final one and a Ctrl-C one always have it)"""
    resume: str | None = None
    """checkpoint to continue training from; its saved settings become the defaults, so any flag given wins"""
    evaluate: str | None = None
    """checkpoint to load and evaluate for `eval_episodes` episodes, without training"""
    capture_video: bool = False
    """record evaluation episodes as mp4 files in the run's videos/ folder, named by step"""
    video_episodes: int = 1
    """episodes recorded per evaluation with --capture-video (the first ones of each evaluation)"""
    track: bool = False
    """mirror the TensorBoard log to Weights & Biases (`pip install -r requirements-track.txt`)"""
    wandb_project_name: str = "cleanRL"
    """the W&B project of a --track run"""
    wandb_entity: str | None = None
    """the W&B entity (user or team) of a --track run; None: your default entity"""


class ConfigError(Exception):
    """Bad input: printed as a one-line error, exit status 2."""


COMMON_RULES = [
    ("at least 1", lambda v: v >= 1, ["total_timesteps", "num_envs", "buffer_size", "batch_size", "eval_episodes"]),
    ("at least 1", lambda v: v >= 1, ["log_frequency", "video_episodes"]),
    ("0 or more", lambda v: v >= 0, ["threads", "learning_starts", "eval_frequency", "checkpoint_frequency"]),
    ("in [0, 1]", lambda v: 0 <= v <= 1, ["gamma"]),
    ("in (0, 1]", lambda v: 0 < v <= 1, ["tau"]),
]  # the ranges of the flags all three scripts share


def check_args(args: Args) -> None:
    floats = [f.name for f in fields(args) if isinstance(getattr(args, f.name), float)]
    for wanted, holds, names in [("a finite number", math.isfinite, floats)] + COMMON_RULES + RULES:
        for name in names:
            if not holds(getattr(args, name)):
                raise ConfigError(f"--{name.replace('_', '-')} must be {wanted}, got {getattr(args, name)}")
    if not args.hidden_sizes or min(args.hidden_sizes) < 1:
        raise ConfigError(f"--hidden-sizes must be one or more layer widths of at least 1, got {args.hidden_sizes}")
    if args.batch_size > args.buffer_size:
        raise ConfigError(
            f"--batch-size {args.batch_size} is larger than --buffer-size {args.buffer_size}: "
            "lower the batch size or raise the buffer size"
        )
    if args.track and importlib.util.find_spec("wandb") is None:
        raise ConfigError("--track needs wandb, which is not installed: pip install -r requirements-track.txt")
    if args.track and os.environ.get("WANDB_MODE") not in ("offline", "disabled"):
        import wandb  # login(prompt=False) looks for a key without asking for one

        if not wandb.login(prompt=False):
            raise ConfigError(
                "--track needs a W&B login: run `wandb login` (or set WANDB_API_KEY), or log offline with "
                "WANDB_MODE=offline and upload later with `wandb sync`"
            )


def setup(args: Args) -> torch.device:
    """Check the settings, seed every RNG, and pick the device."""
    check_args(args)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise ConfigError(f"--device {args.device!r} is not a torch device: use auto, cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {args.device} asked for, but torch sees no CUDA GPU: use --device cpu")
    return device


def check_memory(capacity: int, row_size: int) -> None:
    """Refuse a replay buffer of float32 rows larger than the free memory; print its size."""
    needed, free = capacity * row_size * 4, sys.maxsize
    if os.path.exists("/proc/meminfo"):  # Linux; elsewhere the buffer is not checked
        with open("/proc/meminfo") as f:
            free = next((int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:")), free)
    if needed > free:
        raise ConfigError(
            f"a replay buffer of {capacity} transitions needs {needed / 2**30:.1f} GiB but only "
            f"{free / 2**30:.1f} GiB of memory is free: lower --buffer-size"
        )
    print(f"replay buffer: {capacity} transitions x {row_size} floats = {needed / 2**20:.0f} MiB")


def compiled(functions: list, device: torch.device, optimizers: list[torch.optim.Optimizer]) -> list:
    """--compile: the update functions compiled by torch.compile. On CUDA, mode reduce-overhead captures CUDA graphs
    and replays them, which needs the optimizers' step counts on the GPU (capturable)."""
    if device.type == "cuda":
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                group["capturable"] = True
    return [torch.compile(f, mode="reduce-overhead" if device.type == "cuda" else None) for f in functions]


# ---- Envs and evaluation -----------------------------------------------------------------------------------------


def make_env(env_id: str, render: bool = False) -> gym.Env:
    """The env, checked: an unknown id or a space the algorithm cannot handle is a ConfigError naming the fix."""
    if render:  # frames are drawn off-screen; the dummy driver stops SDL from looking for a display
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    if "mujoco" in str(getattr(gym.envs.registry.get(env_id), "entry_point", "")):
        import mujoco  # its warnings on stderr, once each, instead of at every load and into MUJOCO_LOG.TXT

        mujoco.set_mju_user_warning(mujoco_warning)
    try:
        env = gym.make(env_id, render_mode="rgb_array") if render else gym.make(env_id)
    except (gym.error.Error, ModuleNotFoundError) as e:
        raise ConfigError(
            f"unknown environment id {env_id!r} ({' '.join(str(e).split())}); check the spelling and "
            "version, or install the package that registers it"
        ) from None
    check_action_space(env_id, env.action_space)
    if not isinstance(env.observation_space, gym.spaces.Box):
        raise ConfigError(
            f"{env_id} has a {type(env.observation_space).__name__} observation space; {ALGO} needs a Box "
            "(wrap it with gymnasium.wrappers.FlattenObservation)"
        )
    return env


@functools.cache  # each warning printed once
def mujoco_warning(text: str) -> None:
    print(f"warning: MuJoCo: {text}", file=sys.stderr)


def make_train_envs(args: Args) -> gym.vector.VectorEnv:
    env = make_env(args.env_id)  # fail early, with a clear message, before building the vector env
    env.close()
    if len(env.observation_space.shape) > 1:
        print(
            f"note: {args.env_id}'s observations of shape {env.observation_space.shape} are flattened into the MLP's "
            "input; images want a convolutional network, which this script does not have"
        )
    # SAME_STEP autoreset: an ending step returns the next episode's first observation and puts the
    # true last one in infos["final_obs"], so no stored transition ever crosses an episode boundary.
    # Episode statistics are kept per env (cheaper than the vector wrapper) and arrive in infos["final_info"].
    return gym.vector.SyncVectorEnv(
        [lambda: gym.wrappers.RecordEpisodeStatistics(make_env(args.env_id))] * args.num_envs,
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )


def evaluate(policy: nn.Module, args: Args, video_prefix: str, video_dir: str | None = None) -> np.ndarray:
    """Returns of `eval_episodes` episodes acting with evaluation_action, on envs seeded apart from training's."""
    env = make_env(args.env_id, render=video_dir is not None)
    if video_dir is not None:
        with warnings.catch_warnings():  # every file is named by its step, so no evaluation overwrites another's
            warnings.filterwarnings("ignore", message=".*Overwriting existing videos")
            env = gym.wrappers.RecordVideo(
                env, video_dir, name_prefix=video_prefix, episode_trigger=lambda episode: episode < args.video_episodes
            )
    rng = np.random.default_rng(args.seed + 1_000_000)  # its own generator: an evaluation never shifts training's draws
    returns = np.zeros(args.eval_episodes)
    for episode in range(args.eval_episodes):
        obs, _ = env.reset(seed=args.seed + 1_000_000 + episode)
        done = False
        while not done:
            with torch.inference_mode():
                action = evaluation_action(policy, obs, args, rng)
            obs, reward, terminated, truncated, _ = env.step(action)
            returns[episode] += reward
            done = terminated or truncated
    env.close()
    return returns


# ---- Logging -----------------------------------------------------------------------------------------------------


class TrainingLog:
    """The run's TensorBoard log (mirrored to W&B with --track): episodes, mean losses, and the progress line."""

    def __init__(self, args: Args, run_dir: str, global_step: int, learn_from: int, resumed: bool):
        self.args = args
        self.learn_from = learn_from
        self.episodes_done = 0
        self.recent_returns = deque(maxlen=10)  # the progress line's "return (last 10)"
        self.loss_sums = {}  # name -> (sum on the device, count) since the last log
        self.tracker = None
        if args.track:  # before the SummaryWriter exists, so that W&B mirrors everything it writes; save=False keeps
            import wandb  # a copy of the events file out of wandb/ (inside this folder), where it would be read again

            for name, folder in [("WANDB_CACHE_DIR", "cache"), ("WANDB_DATA_DIR", "data")]:  # its logs: not in ~/.cache
                os.environ.setdefault(name, os.path.join(run_dir, "wandb", folder))
            wandb.tensorboard.patch(root_logdir=run_dir, save=False)
            self.tracker = wandb.init(
                project=args.wandb_project_name,
                entity=args.wandb_entity,
                config=asdict(args),
                name=os.path.basename(run_dir),
                dir=run_dir,
                save_code=True,
            )
        # a resumed run drops what the stopped one logged after its checkpoint's step
        self.writer = SummaryWriter(run_dir, purge_step=global_step + 1 if resumed else None)
        if not resumed:
            table = "\n".join(f"|{k}|{v}|" for k, v in asdict(args).items())
            self.writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + table)
        self.start_time = self.last_time = time.time()
        self.start_step = self.last_step = global_step

    def episode(self, global_step: int, episodic_return: float, length: int) -> None:
        self.episodes_done += 1
        self.recent_returns.append(float(episodic_return))
        self.writer.add_scalar("charts/episodic_return", episodic_return, global_step)
        self.writer.add_scalar("charts/episodic_length", length, global_step)

    def add_losses(self, **losses: torch.Tensor) -> None:
        """Sum each loss on the device until the next log line: no host sync per step."""
        for name, value in losses.items():
            total, count = self.loss_sums.get(name, (0.0, 0))
            self.loss_sums[name] = (total + value, count + 1)

    def loss_totals(self) -> list[float]:
        return torch.stack([total for total, _ in self.loss_sums.values()]).tolist() if self.loss_sums else []

    def write_losses(self, global_step: int, totals: list[float], charts: dict) -> None:
        for (name, (_, count)), total in zip(self.loss_sums.items(), totals):
            self.writer.add_scalar(f"losses/{name}", total / count, global_step)
        for tag, value in charts.items():
            self.writer.add_scalar(tag, value(), global_step)
        self.loss_sums = {}

    def write_progress(self, step: int) -> None:
        """CleanRL's charts/SPS, and a line with the recent returns, the speed and the time left."""
        now = time.time()
        args = self.args
        sps = (step - self.last_step) / max(now - self.last_time, 1e-9)  # this interval's, for the time left
        self.writer.add_scalar("charts/SPS", int((step - self.start_step) / (now - self.start_time)), step)
        warm_up = step < self.learn_from  # the time left in the phase the run is in
        phase_end = min(self.learn_from, args.total_timesteps) if warm_up else args.total_timesteps
        left = str(datetime.timedelta(seconds=int((phase_end - step) / max(sps, 1e-9))))
        if self.last_step < self.learn_from <= step:  # no time left from an interval that spans the start of learning
            left = "?:??:??"
        self.last_time = now
        self.last_step = step
        recent = f"{np.mean(self.recent_returns):9.1f}" if self.recent_returns else "        -"
        print(
            f"step {step:>8}/{args.total_timesteps} | episodes {self.episodes_done:>5} | return (last 10) "
            f"{recent} | {sps:6.0f} steps/s | {left} left" + (" of the warm-up" if warm_up else ""),
            flush=True,
        )

    def close(self) -> None:
        self.writer.close()
        if self.tracker is not None:
            self.tracker.finish()


def print_plan(args: Args, run_dir: str, learn_from: int, policy: nn.Module, envs, resumed: bool) -> None:
    """The run's first lines: what it will do, where, and with which settings."""
    device = next(policy.parameters()).device
    if env_state(envs) is None:
        print(f"note: {args.env_id}'s envs cannot be pickled, so a resumed run will start fresh episodes")
    print(
        f"{args.env_id}: {args.total_timesteps} steps, learning from step {learn_from}, on {device} with "
        f"{torch.get_num_threads()} torch threads; run folder {run_dir}"
    )
    if args.total_timesteps <= learn_from:
        when = "before" if args.total_timesteps < learn_from else "as"
        print(
            f"warning: the run ends at step {args.total_timesteps}, {when} learning starts (step {learn_from}): "
            "no update before its end; raise --total-timesteps or lower --learning-starts"
        )
    if not resumed:
        source, preset = preset_of(args.env_id)
        flags = [
            f"--{name.replace('_', '-')}" + ("" if value is True else f" {value}") for name, value in preset.items()
        ]
        print(f"settings: {source}" + (": " + " ".join(flags) if flags else "") + "; flags given win")


# ---- The run: its folder, schedules, NaN guard and stop on a signal -----------------------------------------------


def is_due(global_step: int, every: int, num_envs: int) -> bool:
    """True on the vector step in which global_step, advancing by num_envs, reached a multiple of `every` (0: never)."""
    return every > 0 and global_step % every < num_envs


class Run:
    """A run's folder and the plumbing steps of its loop: logs, NaN guard, evaluation, checkpoints, stop on a signal."""

    def __init__(self, args: Args, saved: dict, rb: ReplayBuffer, policy: str, charts: dict | None = None):
        self.args = args
        self.saved = saved  # by name: the modules, optimizers and tensors a checkpoint holds
        self.rb = rb
        self.policy_name = policy  # the saved module that evaluation runs
        self.charts = charts or {}  # tag -> function giving the value to log with the losses
        self.weights = [p for m in saved.values() if isinstance(m, nn.Module) for p in m.parameters()]
        self.weights += [t for t in saved.values() if isinstance(t, torch.Tensor) and t.requires_grad]  # learned
        self.refill_until = 0  # after a resume without the replay buffer: no update until it holds new rows again
        self.final_eval = float("nan")
        self.dir = run_folder(args)
        self.path = os.path.join(self.dir, "checkpoint.pt")

    def start(self, envs: gym.vector.VectorEnv, obs: np.ndarray, global_step: int, num_updates: int, resumed) -> None:
        """Open the logs, say what the run will do, and catch Ctrl-C and SIGTERM from here on."""
        self.envs = envs
        self.learn_from = max(self.args.learning_starts, self.refill_until)
        self.log = TrainingLog(self.args, self.dir, global_step, self.learn_from, resumed=resumed is not None)
        if resumed is not None:
            self.log.episodes_done = resumed.get("episodes_done", 0)
            self.log.recent_returns.extend(resumed.get("recent_returns", []))
        print_plan(self.args, self.dir, self.learn_from, self.saved[self.policy_name], envs, resumed is not None)
        self.stop_signal = StopSignal()
        self.last_good_state = checkpoint_state(self, global_step, num_updates, obs, with_buffer=False)

    def due(self, global_step: int, every: int) -> bool:
        return is_due(global_step, every, self.args.num_envs)

    def check_step(self, global_step: int, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray) -> None:
        """Stop at the step where an action, reward or observation stops being a finite number."""
        if not np.isfinite(actions).all():
            self.stop_diverged(global_step, "the policy's action")
        if not (np.isfinite(rewards).all() and np.isfinite(next_obs).all()):
            what = "the env's " + ("reward" if np.isfinite(next_obs).all() else "observation")
            self.stop_diverged(global_step, what, "check the env: its rewards and observations must be finite numbers")

    def write_log(self, global_step: int, num_updates: int, obs: np.ndarray, progress: bool = True) -> None:
        """Check that losses and weights are finite, log the losses' means, keep this state as the last finite one."""
        totals = self.log.loss_totals()
        if not all(math.isfinite(total) for total in totals):
            self.stop_diverged(global_step, "a loss")
        if not torch.stack([w.isfinite().all() for w in self.weights]).all():
            self.stop_diverged(global_step, "the weights")
        self.log.write_losses(global_step, totals, self.charts)
        self.last_good_state = checkpoint_state(self, global_step, num_updates, obs, with_buffer=False)
        if progress:
            self.log.write_progress(global_step)

    def evaluate(self, global_step: int) -> None:
        video_dir = os.path.join(self.dir, "videos") if self.args.capture_video else None
        returns = evaluate(self.saved[self.policy_name], self.args, f"eval-step{global_step}", video_dir)
        self.final_eval = float(returns.mean())
        self.log.writer.add_scalar("eval/episodic_return", self.final_eval, global_step)
        print(
            f"eval at step {global_step}: return {self.final_eval:.1f} +- {returns.std():.1f} "
            f"over {self.args.eval_episodes} episodes",
            flush=True,
        )

    def save(self, global_step: int, num_updates: int, obs: np.ndarray, with_buffer: bool) -> None:
        """A checkpoint of a state checked finite (the losses since the last log are logged with it)."""
        if self.last_good_state["global_step"] != global_step:  # not yet checked at this step
            self.write_log(global_step, num_updates, obs, progress=False)
        save_checkpoint(self.path, checkpoint_state(self, global_step, num_updates, obs, with_buffer))

    def stop(self, global_step: int) -> None:
        """After the stop's checkpoint: say how to go on, and exit with the shell's status for the signal."""
        print(
            f"stopped by signal {self.stop_signal.signum} at step {global_step}; checkpoint written to {self.path}; "
            f"continue with: python {SCRIPT} --resume {self.path}",
            flush=True,
        )
        raise SystemExit(128 + self.stop_signal.signum)

    def stop_diverged(self, global_step: int, what: str, fix: str = "") -> None:
        fix = fix or f"lower {LEARNING_RATES}, or check the env's rewards and observations"
        save_checkpoint(self.path, self.last_good_state)
        good_step = self.last_good_state["global_step"]
        print(
            f"error: {what} became NaN or inf between steps {good_step} and {global_step}; {self.path} holds "
            f"the last finite state (step {good_step}): {fix}",
            file=sys.stderr,
        )
        raise SystemExit(1)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type, *_) -> None:
        self.log.close()
        self.envs.close()
        if exc_type is None:
            print(
                f"done: {self.last_good_state['global_step']} steps, final evaluation return {self.final_eval:.1f} "
                f"over {self.args.eval_episodes} episodes; checkpoint {self.path}; over more episodes: "
                f"python {SCRIPT} --evaluate {self.dir} --eval-episodes 50"
            )


class StopSignal:
    """Ctrl-C and SIGTERM, caught: the loop ends its step, writes a checkpoint, then stops."""

    def __init__(self):
        self.signum = None
        signal.signal(signal.SIGINT, self.request)
        signal.signal(signal.SIGTERM, self.request)

    def request(self, signum, _frame) -> None:
        self.signum = signum
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops at once


def run_folder(args: Args) -> str:
    """runs/{env_id}__{exp_name}__{seed}__{time} for a new run; a resumed run goes on in its checkpoint's folder."""
    if args.resume:
        run_dir = os.path.dirname(os.path.abspath(args.resume))
    else:
        name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
        run_dir = os.path.join(args.runs_dir, name.replace("/", "-").replace(":", "-"))
    try:
        os.makedirs(run_dir, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"cannot create the run folder {run_dir!r} ({e.strerror}): give a writable --runs-dir"
        ) from None
    return run_dir


# ---- Checkpoints and resume --------------------------------------------------------------------------------------

CHECKPOINT_FORMAT = 3  # raised whenever what a checkpoint holds changes: an older one is refused in one line


def checkpoint_state(run: Run, global_step: int, num_updates: int, obs: np.ndarray, with_buffer: bool) -> dict:
    """Everything a resume needs to go on exactly: the saved modules, buffer, envs, RNG states and counters."""
    state = {}
    for name, m in run.saved.items():
        state[name] = m.detach().clone() if isinstance(m, torch.Tensor) else copy.deepcopy(m.state_dict())
    state.update(
        script=SCRIPT,
        format=CHECKPOINT_FORMAT,
        args=asdict(run.args),
        policy=run.policy_name,
        global_step=global_step,
        num_updates=num_updates,
        episodes_done=run.log.episodes_done,
        refill_until=run.refill_until,
        recent_returns=list(run.log.recent_returns),
        envs=env_state(run.envs),
        obs=obs.copy(),
        buffer=buffer_state(run.rb) if with_buffer else None,
        rng=(
            random.getstate(),
            np.random.get_state(),
            torch.get_rng_state(),
            torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        ),
    )
    return state


def restore(run: Run, checkpoint: dict, envs: gym.vector.VectorEnv) -> tuple:
    """Load a checkpoint into the run's modules, buffer and RNGs; its envs, observations, global_step, num_updates."""
    args = run.args
    global_step = checkpoint["global_step"]
    if args.total_timesteps <= global_step:
        raise ConfigError(
            f"the checkpoint is at step {global_step} and --total-timesteps is {args.total_timesteps}: "
            "raise --total-timesteps to train on"
        )
    for name, module in run.saved.items():
        if isinstance(module, torch.Tensor):  # a learned tensor goes on from its saved value; a fixed one is the flag's
            if module.requires_grad:
                with torch.no_grad():
                    module.copy_(checkpoint[name])
            continue
        rates = [group["lr"] for group in getattr(module, "param_groups", [])]
        module.load_state_dict(checkpoint[name])
        for group, lr in zip(getattr(module, "param_groups", []), rates):
            group["lr"] = lr  # the flags' learning rates, not those saved with the optimizer's state
    python_rng, numpy_rng, torch_rng, cuda_rng = checkpoint["rng"]
    random.setstate(python_rng)
    np.random.set_state(numpy_rng)
    torch.set_rng_state(torch_rng)
    if cuda_rng is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_rng)
    run.refill_until = checkpoint.get("refill_until", 0)
    if checkpoint.get("buffer") is not None:
        load_buffer_state(run.rb, checkpoint["buffer"])
        note = f"replay buffer holds {run.rb.size} transitions"
    else:
        run.refill_until = global_step + args.learning_starts
        note = f"no replay buffer saved: {args.learning_starts} new transitions before updates go on"
    if checkpoint.get("envs") is not None and checkpoint["args"]["num_envs"] == args.num_envs:
        envs.close()
        envs, obs = restore_envs(checkpoint["envs"]), checkpoint["obs"]  # the episodes in progress go on
    else:
        obs, _ = envs.reset(seed=args.seed + global_step)
        note += "; the envs start fresh episodes (the checkpoint holds no env state for this --num-envs)"
    print(f"resumed {args.resume} at step {global_step}; {note}")
    return envs, obs, global_step, checkpoint["num_updates"]


def buffer_state(rb: ReplayBuffer) -> dict:
    """The replay buffer's rows in use and its position, for a checkpoint."""
    return {
        "pos": rb.pos,
        "size": rb.size,
        "capacity": rb.capacity,
        "fields": [f[: rb.size].clone() for f in rb.fields],
    }


def load_buffer_state(rb: ReplayBuffer, state: dict) -> None:
    rb.pos, rb.size = state["pos"], state["size"]
    for field, rows in zip(rb.fields, state["fields"]):
        if state["capacity"] != rb.capacity:  # another --buffer-size: the newest rows, oldest first
            rows = torch.cat([rows[state["pos"] :], rows[: state["pos"]]])[-rb.capacity :]
            rb.pos, rb.size = len(rows) % rb.capacity, len(rows)
        field[: rb.size] = rows


def env_state(envs: gym.vector.VectorEnv) -> bytes | None:
    """The vector env pickled whole (episodes in progress, their statistics, the envs' RNGs), or None if it can't be."""
    sync = envs.unwrapped
    env_fns, sync.env_fns = sync.env_fns, None  # closures cannot be pickled, and a restored vector env is never rebuilt
    # an EzPickle env (MuJoCo's) pickles as its constructor's arguments: its attributes carry the simulator's state
    try:
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


def save_checkpoint(path: str, state: dict) -> None:
    # Write then rename: a run killed mid-save never leaves a half-written checkpoint behind.
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)


def load_checkpoint(path: str) -> dict:
    if not os.path.isfile(path):
        raise ConfigError(f"checkpoint {path!r} not found: give the path of a checkpoint.pt under {Args.runs_dir}/")
    try:  # weights_only=False because the file holds RNG states, settings and envs; load only checkpoints you trust.
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise ConfigError(
            f"{path!r} cannot be read as a checkpoint ({type(e).__name__}: {e}); it may be truncated or "
            "not a checkpoint: give another checkpoint.pt"
        ) from None
    writer = checkpoint.get("script") if isinstance(checkpoint, dict) else None
    if writer != SCRIPT:
        fix = f"use {writer}" if writer else f"give a checkpoint.pt that {SCRIPT} wrote"
        raise ConfigError(
            f"{path!r} is not a checkpoint of {SCRIPT}; it was written by {writer or 'something else'}: {fix}"
        )
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(
            f"{path!r} is from an older version of {SCRIPT}, whose checkpoints hold other things: "
            "evaluate or resume it with that version, or start a new run"
        )
    return checkpoint


# ---- The command line --------------------------------------------------------------------------------------------


def parse_args() -> tuple[Args, dict | None]:
    """The command line, and the checkpoint named by --resume or --evaluate, whose settings are then the defaults."""
    integers = {f"--{f.name.replace('_', '-')}" for f in fields(Args) if f.type == "int"}
    argv = []
    for flag, value in zip(["", *sys.argv[1:]], sys.argv[1:]):  # an integer flag given as 1e4 is a whole number
        if flag in integers and re.fullmatch(r"[0-9.]+[eE]\+?[0-9]+", value) and float(value).is_integer():
            value = str(int(float(value)))
        argv.append(value)
    args = checkpoint_paths(tyro.cli(Args, args=argv, description=DESCRIPTION))
    if not (args.resume or args.evaluate):  # parsed again over the env's preset: every flag given wins
        preset = Args(env_id=args.env_id, **preset_of(args.env_id)[1])
        return checkpoint_paths(tyro.cli(Args, args=argv, default=preset, description=DESCRIPTION)), None
    checkpoint = load_checkpoint(args.evaluate or args.resume)
    # the thread count is the machine's, not the run's: a resume takes it from its own command line
    kept = [f.name for f in fields(Args) if f.name in checkpoint["args"] and f.name != "threads"]
    saved = Args(**{name: checkpoint["args"][name] for name in kept})
    args = checkpoint_paths(tyro.cli(Args, args=argv, default=saved, description=DESCRIPTION))  # flags given win
    for name in ["env_id", "hidden_sizes"]:  # the networks' shapes follow from both
        if getattr(args, name) != getattr(saved, name):
            raise ConfigError(
                f"--{name.replace('_', '-')} {getattr(args, name)} differs from the checkpoint's "
                f"{getattr(saved, name)}: a run keeps it (drop the flag, or start a new run without --resume)"
            )
    return args, checkpoint


def checkpoint_paths(args: Args) -> Args:
    """A run folder given to --resume or --evaluate stands for the checkpoint in it."""
    for name in ["resume", "evaluate"]:
        if getattr(args, name) and os.path.isdir(getattr(args, name)):
            setattr(args, name, os.path.join(getattr(args, name), "checkpoint.pt"))
    return args


def preset_of(env_id: str) -> tuple[str, dict]:
    """Where env_id's settings come from, and the flags they set (the MuJoCo v5 tasks share theirs)."""
    mujoco = env_id.endswith("-v5") and "mujoco" in str(getattr(gym.envs.registry.get(env_id), "entry_point", ""))
    return PRESETS.get("MuJoCo v5" if mujoco else env_id, (f"the defaults, tuned for {Args.env_id}", {}))


def evaluate_checkpoint(args: Args, checkpoint: dict) -> float:
    """Evaluate a checkpoint's policy, recording the first --video-episodes episodes when --capture-video is on."""
    check_args(args)
    env = make_env(args.env_id)
    policy = make_policy(int(np.prod(env.observation_space.shape)), env.action_space, args)
    env.close()
    policy.load_state_dict(checkpoint[checkpoint["policy"]])
    video_dir = os.path.join(os.path.dirname(os.path.abspath(args.evaluate)), "videos") if args.capture_video else None
    returns = evaluate(policy, args, f"evaluate-step{checkpoint['global_step']}", video_dir)
    print(
        f"{args.env_id} checkpoint at step {checkpoint['global_step']}: return {returns.mean():.1f} "
        f"+- {returns.std():.1f} over {args.eval_episodes} episodes"
    )
    return float(returns.mean())


def main() -> None:
    try:
        args, checkpoint = parse_args()
        if args.capture_video:  # MuJoCo picks its OpenGL back end when imported: EGL draws frames without a display
            os.environ.setdefault("MUJOCO_GL", "egl")
        if args.evaluate:
            evaluate_checkpoint(args, checkpoint)
        else:
            train(args, checkpoint)
    except (ConfigError, gym.error.DependencyNotInstalled) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
