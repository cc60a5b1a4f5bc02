"""Deep Q-Network (DQN) for discrete actions, in one file.

DQN learns Q(s, a) for every action at once (one network output per action) with the Bellman
equation, from a replay buffer of past transitions, against a slowly updated target network.
For a sampled batch of (s, a, r, s', terminated):

    TD target     y     = r + gamma * (1 - terminated) * max_a' Q'(s', a')               (no gradient)
    double DQN    y     = r + gamma * (1 - terminated) * Q'(s', argmax_a' Q(s', a'))     (--double-dqn)
    loss          L     = mean (Q(s, a) - y)^2        (or the Huber loss with --loss huber)
    target        Q'    <- Q every `target_network_frequency` steps (or (1 - tau) Q' + tau Q with tau < 1)

Double DQN picks a' with the online network and values it with the target network, which curbs the
overestimation that max over noisy estimates causes. Exploration is epsilon-greedy, epsilon falling
linearly from `start_e` to `end_e` over `exploration_fraction` of the run; evaluation is greedy.

    python dqn_discrete.py --env-id CartPole-v1
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
from typing import Literal

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
    """training device: `auto` (cuda when available, else cpu), `cpu`, `cuda`, `cuda:1`, ...; this small network
    trains faster on the CPU (CartPole: 3400 steps/s on cpu, 1450 on an H100, same machine)"""
    runs_dir: str = "runs"
    """folder that holds one subfolder per run: TensorBoard logs, checkpoints and videos"""

    env_id: str = "CartPole-v1"
    """gymnasium id of an environment with a Discrete action space"""
    total_timesteps: int = 500_000
    """environment steps to train for, summed over all parallel envs"""
    num_envs: int = 1
    """parallel environments stepped together"""
    buffer_size: int = 10_000
    """replay buffer capacity, in transitions"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 1.0
    """target update coefficient: 1 copies the network, below 1 is a polyak update (1 - tau) Q' + tau Q"""
    target_network_frequency: int = 500
    """update the target network every this many environment steps (counted apart from --train-frequency)"""
    batch_size: int = 128
    """transitions per gradient step"""
    learning_rate: float = 2.5e-4
    """Adam learning rate"""
    learning_starts: int = 10_000
    """steps before learning begins (epsilon-greedy acting all along)"""
    train_frequency: int = 10
    """take a gradient step every this many environment steps"""
    start_e: float = 1.0
    """epsilon at the start of the run"""
    end_e: float = 0.05
    """epsilon at the end of the schedule"""
    exploration_fraction: float = 0.5
    """fraction of total_timesteps over which epsilon falls linearly from start_e to end_e"""
    double_dqn: bool = False
    """choose a' with the online network and value it with the target network"""
    loss: Literal["mse", "huber"] = "mse"
    """TD loss: mean squared error, or Huber (smooth L1), which is gentler on large TD errors"""

    eval_frequency: int = 25_000
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
    positive = ["total_timesteps", "num_envs", "buffer_size", "batch_size", "train_frequency",
                "target_network_frequency", "eval_episodes", "log_frequency"]
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
    for name in ["start_e", "end_e", "exploration_fraction"]:
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise ConfigError(f"--{name.replace('_', '-')} must lie in [0, 1], got {getattr(args, name)}")
    if args.learning_rate <= 0:
        raise ConfigError(f"--learning-rate must be positive, got {args.learning_rate}")


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
    if isinstance(action_space, gym.spaces.Box):
        raise ConfigError(f"{env_id} has a continuous (Box) action space: use ddpg_continuous.py or sac_continuous.py")
    if not isinstance(action_space, gym.spaces.Discrete):
        raise ConfigError(f"{env_id} has a {type(action_space).__name__} action space; DQN needs a Discrete one")
    if not isinstance(observation_space, gym.spaces.Box):
        raise ConfigError(f"{env_id} has a {type(observation_space).__name__} observation space; DQN needs "
                          "a Box (wrap it with gymnasium.wrappers.FlattenObservation)")


def make_train_envs(args: Args) -> gym.vector.VectorEnv:
    probe = make_env(args.env_id)  # fail early, with a clear message, before building the vector env
    check_spaces(args.env_id, probe.observation_space, probe.action_space)
    probe.close()
    # SAME_STEP autoreset: an ending step returns the next episode's first observation and puts the
    # true last one in infos["final_obs"], so no stored transition ever crosses an episode boundary.
    # Episode statistics are kept per env, and so arrive in infos["final_info"] (1 us a step against the
    # vector wrapper's 8 us, in a DQN step of 0.15-0.2 ms on CartPole).
    return gym.vector.SyncVectorEnv([lambda: gym.wrappers.RecordEpisodeStatistics(make_env(args.env_id))] * args.num_envs,
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


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

    Each row holds one whole transition side by side, [s | a | r | s' | terminated] with a the action's
    index, so that storing a step is one copy and sampling a batch is one gather, not five of each.
    """

    def __init__(self, capacity: int, obs_dim: int, device: torch.device):
        self.capacity, self.device, self.pos, self.size = capacity, device, 0, 0
        self.obs_dim = obs_dim
        row_size = 2 * obs_dim + 3
        needed, free = capacity * row_size * 4, free_memory(device)  # float32 rows
        if needed > free:
            raise ConfigError(f"a replay buffer of {capacity} transitions needs {needed / 2**30:.1f} GiB but {device} has "
                              f"{free / 2**30:.1f} GiB free: lower --buffer-size")
        print(f"replay buffer: {capacity} transitions x {row_size} floats = {needed / 2**20:.0f} MiB on {device}")
        self.rows = torch.zeros((capacity, row_size), device=device)
        # on the CPU, a numpy view of the same memory: storing through it skips torch's dispatch (18 -> 6 us a step)
        self.cpu_rows = self.rows.numpy() if device.type == "cpu" else None

    def add(self, obs, actions, rewards, next_obs, terminated) -> None:
        """Store one row per env (numpy arrays); the oldest rows are overwritten once the buffer is full."""
        n = len(obs)
        new = np.concatenate([obs.reshape(n, -1), actions.reshape(n, -1), rewards.reshape(n, 1),
                              next_obs.reshape(n, -1), terminated.reshape(n, 1)], axis=1)
        first = min(n, self.capacity - self.pos)  # rows past the end of the buffer wrap around to its start
        self.write(self.pos, new[:first])
        if first < n:
            self.write(0, new[first:])
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def write(self, start: int, new: np.ndarray) -> None:
        if self.cpu_rows is not None:
            self.cpu_rows[start:start + len(new)] = new
        else:
            self.rows[start:start + len(new)] = torch.as_tensor(new, device=self.device)

    def split(self, rows: torch.Tensor):
        """(obs, actions, rewards, next_obs, terminated) as views of the columns of `rows`."""
        o = self.obs_dim
        # the action index is stored as a float like the rest of the row (exact below 2**24), read back as an integer
        return rows[:, :o], rows[:, o].long(), rows[:, o + 1], rows[:, o + 2:2 * o + 2], rows[:, -1]

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
# Network and exploration
# ---------------------------------------------------------------------------------------------
class QNetwork(nn.Module):
    """Q(s, .): observation -> 120 -> 84 -> one value per action, shape (batch, num_actions)."""

    def __init__(self, obs_dim: int, num_actions: int):
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(obs_dim, 120), nn.Linear(120, 84), nn.Linear(84, num_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.fc2(F.relu(self.fc1(obs.flatten(1))))))

    def numpy_layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(weight, bias) of each layer as numpy arrays sharing the parameters' memory (CPU only): the
        optimizer's in-place steps and load_state_dict show through them, so they never go stale."""
        return [(layer.weight.detach().numpy(), layer.bias.detach().numpy()) for layer in (self.fc1, self.fc2, self.out)]


def q_values_numpy(layers: list[tuple[np.ndarray, np.ndarray]], obs: np.ndarray) -> np.ndarray:
    """QNetwork.forward in numpy, for acting on the CPU: a batch-1 pass costs 8 us against torch's 26 us,
    whose per-call dispatch outweighs arithmetic this small (CartPole training: about 1.3x the steps/s)."""
    (w1, b1), (w2, b2), (w3, b3) = layers
    x = np.maximum(obs.reshape(len(obs), -1).astype(np.float32, copy=False) @ w1.T + b1, 0.0)
    x = np.maximum(x @ w2.T + b2, 0.0)
    return x @ w3.T + b3


def linear_schedule(start_e: float, end_e: float, duration: float, t: int) -> float:
    """Epsilon at step t: from start_e down to end_e in a straight line over `duration` steps, then flat."""
    return max(end_e, start_e + (end_e - start_e) * t / max(duration, 1.0))


def epsilon_greedy(q_network: QNetwork, obs: np.ndarray, epsilon: float, num_actions: int,
                   device: torch.device | str = "cpu", layers: list | None = None) -> np.ndarray:
    """Per env: a uniform random action with probability epsilon, else argmax_a Q(s, a).

    With `layers` (QNetwork.numpy_layers(), on the CPU) Q is computed in numpy, otherwise by the network.
    """
    explore = np.random.random(len(obs)) < epsilon
    actions = np.random.randint(num_actions, size=len(obs))
    if not explore.all():  # the network runs only when some env acts greedily: early on, most steps skip it
        if layers is not None:
            greedy = q_values_numpy(layers, obs).argmax(axis=1)
        else:
            with torch.inference_mode():
                greedy = q_network(torch.as_tensor(obs, dtype=torch.float32, device=device)).argmax(dim=1).cpu().numpy()
        actions = np.where(explore, actions, greedy)
    return actions


# ---------------------------------------------------------------------------------------------
# Update rules
# ---------------------------------------------------------------------------------------------
def td_target(reward: torch.Tensor, terminated: torch.Tensor, next_q_target: torch.Tensor, gamma: float,
              next_q_online: torch.Tensor | None = None) -> torch.Tensor:
    """y = r + gamma * (1 - terminated) * Q'(s', a'), with a' = argmax Q'(s', .), or argmax Q(s', .) for double DQN.

    next_q_* have shape (batch, num_actions). Only termination zeroes the future: a truncation still bootstraps.
    """
    if next_q_online is None:
        next_value = next_q_target.max(dim=1).values
    else:
        next_value = next_q_target.gather(1, next_q_online.argmax(dim=1, keepdim=True)).squeeze(1)
    return reward + gamma * (1.0 - terminated) * next_value


def td_loss(q_taken: torch.Tensor, y: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Mean squared (or Huber) TD error between Q(s, a) and y, both of shape (batch,); y carries no gradient."""
    return F.mse_loss(q_taken, y) if kind == "mse" else F.smooth_l1_loss(q_taken, y)


def is_due(global_step: int, every: int, num_envs: int) -> bool:
    """True on the vector step in which global_step, advancing by num_envs, reached a multiple of `every`."""
    return global_step % every < num_envs


def update_q(q_network: QNetwork, optimizer: torch.optim.Optimizer, target_network: QNetwork,
             batch: tuple[torch.Tensor, ...], gamma: float, double_dqn: bool,
             loss_kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One gradient step on the TD error of the actions taken; returns the loss and the mean Q(s, a), detached."""
    obs, actions, rewards, next_obs, terminated = batch
    with torch.no_grad():  # y is a regression label: no gradient may flow into the target network
        next_q_online = q_network(next_obs) if double_dqn else None
        y = td_target(rewards, terminated, target_network(next_obs), gamma, next_q_online)
    q_taken = q_network(obs).gather(1, actions[:, None]).squeeze(1)
    loss = td_loss(q_taken, y, loss_kind)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), q_taken.detach().mean()


@torch.no_grad()
def update_target(target: nn.Module, online: nn.Module, tau: float) -> None:
    """Q' <- (1 - tau) Q' + tau Q, fused over all tensors; tau = 1 is an exact copy."""
    if tau == 1.0:
        torch._foreach_copy_(list(target.parameters()), list(online.parameters()))
    else:
        torch._foreach_lerp_(list(target.parameters()), list(online.parameters()), tau)


# ---------------------------------------------------------------------------------------------
# Evaluation and checkpoints
# ---------------------------------------------------------------------------------------------
def evaluate(q_network: QNetwork, env_id: str, episodes: int, seed: int, video_dir: str | None = None,
             video_prefix: str = "eval") -> np.ndarray:
    """Returns of `episodes` episodes acting greedily, argmax_a Q(s, a); env seeds seed, seed+1, ..."""
    env = make_env(env_id, render=video_dir is not None)
    if video_dir is not None:
        env = gym.wrappers.RecordVideo(env, video_dir, name_prefix=video_prefix, episode_trigger=lambda _: True,
                                       disable_logger=True)
    device = next(q_network.parameters()).device
    returns = np.zeros(episodes)
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            with torch.inference_mode():
                action = q_network(torch.as_tensor(obs, dtype=torch.float32, device=device)[None]).argmax(dim=1)[0]
            obs, reward, terminated, truncated, _ = env.step(action.item())
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
    checkpoint.setdefault("script", SCRIPT if "q_network" in checkpoint else None)  # older checkpoints: by content
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
    """Train DQN, or continue the run `checkpoint` holds; returns the final mean evaluation return."""
    check_args(args)
    device = resolve_device(args.device)

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic

    envs = make_train_envs(args)
    obs_dim = int(np.prod(envs.single_observation_space.shape))
    num_actions = int(envs.single_action_space.n)

    q_network = QNetwork(obs_dim, num_actions).to(device)
    target_network = copy.deepcopy(q_network).requires_grad_(False)
    optimizer = torch.optim.Adam(q_network.parameters(), lr=args.learning_rate, fused=True)
    rb = ReplayBuffer(args.buffer_size, obs_dim, device)
    modules = {"q_network": q_network, "target_network": target_network, "optimizer": optimizer}
    weights = [*q_network.parameters(), *target_network.parameters()]
    numpy_layers = q_network.numpy_layers() if device.type == "cpu" else None  # acting in numpy: see q_values_numpy

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
        optimizer.param_groups[0]["lr"] = args.learning_rate  # the flag's, not the one saved in the optimizer's state
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
        state.update(script=SCRIPT, args=asdict(args), global_step=global_step, num_updates=num_updates,
                     episodes_done=episodes_done, refill_until=refill_until, recent_returns=list(recent_returns),
                     envs=env_state(envs), obs=obs.copy(), rng=rng_states(),
                     buffer=rb.state_dict() if with_buffer else None)
        return state

    def stop_diverged(what: str, fix: str = "lower --learning-rate, or check the env's rewards and observations"):
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
    loss_sums = torch.zeros(2, device=device)  # TD loss, mean Q of the actions taken
    updates_since_log = 0
    last_good_state = training_state(with_buffer=False)
    eval_seed = args.seed + 1_000_000  # evaluation episodes never share seeds with training
    final_eval = float("nan")
    learn_from = max(args.learning_starts, refill_until)
    last_log_time, last_log_step = time.time(), global_step

    while global_step < args.total_timesteps:
        # 1. Act epsilon-greedily, epsilon following its linear schedule.
        epsilon = linear_schedule(args.start_e, args.end_e, args.exploration_fraction * args.total_timesteps, global_step)
        actions = epsilon_greedy(q_network, obs, epsilon, num_actions, device, numpy_layers)
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

        if "final_info" in infos:
            episode = infos["final_info"]["episode"]
            for i in np.flatnonzero(infos["final_info"]["_episode"]):
                episodes_done += 1
                recent_returns.append(float(episode["r"][i]))
                writer.add_scalar("charts/episodic_return", episode["r"][i], global_step)
                writer.add_scalar("charts/episodic_length", episode["l"][i], global_step)

        # 3. Learn every train_frequency steps; update the target on its own schedule, not nested in the former.
        if global_step >= learn_from and rb.size >= args.batch_size:
            if is_due(global_step, args.train_frequency, args.num_envs):
                loss, q_mean = update_q(q_network, optimizer, target_network, rb.sample(args.batch_size), args.gamma,
                                        args.double_dqn, args.loss)
                num_updates += 1
                updates_since_log += 1
                loss_sums[0] += loss
                loss_sums[1] += q_mean
            if is_due(global_step, args.target_network_frequency, args.num_envs):
                update_target(target_network, q_network, args.tau)

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
            writer.add_scalar("charts/epsilon", epsilon, global_step)
            if updates_since_log:
                sums = loss_sums.tolist()
                writer.add_scalar("losses/td_loss", sums[0] / updates_since_log, global_step)
                writer.add_scalar("losses/q_values", sums[1] / updates_since_log, global_step)
            loss_sums.zero_()
            updates_since_log = 0
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
            returns = evaluate(q_network, args.env_id, args.eval_episodes, eval_seed, video_dir, f"eval-step{global_step}")
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
    """Evaluate a checkpoint's Q-network greedily, recording every episode when --capture-video is on."""
    check_args(args)
    env = make_env(args.env_id)
    check_spaces(args.env_id, env.observation_space, env.action_space)
    obs_dim = int(np.prod(env.observation_space.shape))
    q_network = QNetwork(obs_dim, int(env.action_space.n))
    q_network.load_state_dict(checkpoint["q_network"])
    env.close()
    video_dir = os.path.join(os.path.dirname(os.path.abspath(args.evaluate)), "videos") if args.capture_video else None
    returns = evaluate(q_network, args.env_id, args.eval_episodes, args.seed + 1_000_000, video_dir,
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
