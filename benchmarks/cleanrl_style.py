"""A stand-in for CleanRL's DDPG, SAC and DQN training loops, timed beside ours in the same benchmark run.

CleanRL itself cannot run here (its scripts pin gymnasium 0.29; PyPI has only its 2021 package), and a
figure measured on another day says little on machines whose speed drifts by 2-3x between days. So this
file repeats, in our own words, the work CleanRL's scripts do per environment step, as they are published:

- networks: separate `nn.Linear` layers (256-256 for DDPG and SAC, 120-84 for DQN), two separate Q networks
  for SAC, each called on its own; plain `torch.optim.Adam` (on a CPU: one parameter at a time);
- acting: `torch.Tensor(obs)` each step, DQN's and SAC's forward pass without `no_grad`, Gaussian noise
  drawn with `torch.normal` for DDPG, uniform random actions below learning_starts or epsilon;
- replay buffer like Stable-Baselines3's: one numpy array per field, a copy per field to store, and to
  sample a numpy gather per field and a `torch.tensor` copy of each;
- updates: as the papers give them, the critic's weights getting gradients in the actor step, target
  networks moved by a Python loop over parameters (`p.data.copy_(tau * p.data + (1 - tau) * t.data)`);
- logging: losses read with `.item()` every 100 steps, episode returns from the vector env's infos.

Each function returns two steps/s figures: over the training phase (learning_starts to the end), and over
the whole run the way CleanRL's scripts print theirs, global_step / (time since the loop began), warm-up
included. They estimate CleanRL's speed on this machine; they are not CleanRL. benchmarks/breakdown.py prints
them beside CleanRL's figure so that the reader can judge how well the stand-in stands in (a close stand-in
runs at CleanRL's figure times the machine's speed that day).
"""

import random
import time

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def make_envs(env_id: str, seed: int) -> gym.vector.VectorEnv:
    """One env, its episode statistics recorded per env, reset within the ending step (gymnasium 0.29's way)."""
    def thunk():
        env = gym.wrappers.RecordEpisodeStatistics(gym.make(env_id))
        env.action_space.seed(seed)
        return env
    return gym.vector.SyncVectorEnv([thunk], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


class NumpyReplayBuffer:
    """Stable-Baselines3's layout: one array per field, (capacity, n_envs, ...), float32 observations."""

    def __init__(self, capacity: int, obs_shape: tuple, action_shape: tuple, action_dtype=np.float32):
        self.capacity, self.pos, self.full = capacity, 0, False
        self.observations = np.zeros((capacity, 1, *obs_shape), np.float32)
        self.next_observations = np.zeros((capacity, 1, *obs_shape), np.float32)
        self.actions = np.zeros((capacity, 1, *action_shape), action_dtype)
        self.rewards = np.zeros((capacity, 1), np.float32)
        self.dones = np.zeros((capacity, 1), np.float32)

    def add(self, obs, next_obs, action, reward, done) -> None:
        self.observations[self.pos] = np.array(obs)
        self.next_observations[self.pos] = np.array(next_obs)
        self.actions[self.pos] = np.array(action).reshape(self.actions.shape[1:])
        self.rewards[self.pos] = np.array(reward)
        self.dones[self.pos] = np.array(done)
        self.pos += 1
        if self.pos == self.capacity:
            self.full, self.pos = True, 0

    def sample(self, batch_size: int):
        upper = self.capacity if self.full else self.pos
        rows = np.random.randint(0, upper, size=batch_size)
        envs = np.random.randint(0, 1, size=batch_size)
        fields = (self.observations[rows, envs], self.actions[rows, envs], self.next_observations[rows, envs],
                  self.dones[rows, envs].reshape(-1, 1), self.rewards[rows, envs].reshape(-1, 1))
        return tuple(torch.tensor(field) for field in fields)


class PhaseClock:
    """Made just before the loop's first reset, where CleanRL starts the clock of the steps/s it prints."""

    def __init__(self, learning_starts: int, steps: int):
        self.learning_starts, self.steps = learning_starts, steps
        self.loop_start, self.training_start = time.perf_counter(), None

    def tick(self, global_step: int) -> None:
        if global_step == self.learning_starts:
            self.training_start = time.perf_counter()

    def rates(self) -> tuple[float, float]:
        """Steps/s of the training phase, and of the whole run as CleanRL prints it (every step since the loop began)."""
        end = time.perf_counter()
        return self.steps / (end - self.training_start), (self.learning_starts + self.steps) / (end - self.loop_start)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def polyak(target: nn.Module, online: nn.Module, tau: float) -> None:
    for target_param, param in zip(target.parameters(), online.parameters()):
        target_param.data.copy_(tau * param.data + (1 - tau) * target_param.data)


def store(rb: NumpyReplayBuffer, obs, next_obs, actions, rewards, terminations, infos) -> None:
    real_next_obs = next_obs.copy()
    if "final_obs" in infos:
        for i in np.flatnonzero(infos["_final_obs"]):
            real_next_obs[i] = infos["final_obs"][i]
    rb.add(obs, real_next_obs, actions, rewards, terminations)


def log_episodes(infos: dict, returns: list) -> None:
    # per-env episode statistics under SAME_STEP autoreset arrive with the ending step's final_info
    if "final_info" in infos and "episode" in infos["final_info"]:
        returns.extend(infos["final_info"]["episode"]["r"][infos["final_info"]["_episode"]].tolist())


def env_step(envs, rb: NumpyReplayBuffer, obs, actions, returns: list):
    """Step the envs, record finished episodes, store the transitions; returns the next observation."""
    next_obs, rewards, terminations, truncations, infos = envs.step(actions)
    log_episodes(infos, returns)
    store(rb, obs, next_obs, actions, rewards, terminations, infos)
    return next_obs


# ---------------------------------------------------------------------------------------------
# DDPG
# ---------------------------------------------------------------------------------------------
class DDPGActor(nn.Module):
    def __init__(self, env):
        super().__init__()
        obs_dim, act_dim = np.prod(env.single_observation_space.shape), np.prod(env.single_action_space.shape)
        self.fc1, self.fc2, self.fc_mu = nn.Linear(obs_dim, 256), nn.Linear(256, 256), nn.Linear(256, act_dim)
        high, low = env.single_action_space.high, env.single_action_space.low
        self.register_buffer("action_scale", torch.tensor((high - low) / 2.0, dtype=torch.float32))
        self.register_buffer("action_bias", torch.tensor((high + low) / 2.0, dtype=torch.float32))

    def forward(self, x):
        x = F.relu(self.fc2(F.relu(self.fc1(x))))
        return torch.tanh(self.fc_mu(x)) * self.action_scale + self.action_bias


class QNetwork(nn.Module):
    def __init__(self, env):
        super().__init__()
        in_dim = np.prod(env.single_observation_space.shape) + np.prod(env.single_action_space.shape)
        self.fc1, self.fc2, self.fc3 = nn.Linear(in_dim, 256), nn.Linear(256, 256), nn.Linear(256, 1)

    def forward(self, x, a):
        x = F.relu(self.fc1(torch.cat([x, a], 1)))
        return self.fc3(F.relu(self.fc2(x)))


def ddpg(env_id: str, learning_starts: int, steps: int, seed: int = 1, policy_frequency: int = 2,
         batch_size: int = 256) -> float:
    seed_everything(seed)
    envs = make_envs(env_id, seed)
    actor, qf1 = DDPGActor(envs), QNetwork(envs)
    target_actor, qf1_target = DDPGActor(envs), QNetwork(envs)
    target_actor.load_state_dict(actor.state_dict())
    qf1_target.load_state_dict(qf1.state_dict())
    q_optimizer = torch.optim.Adam(qf1.parameters(), lr=3e-4)
    actor_optimizer = torch.optim.Adam(actor.parameters(), lr=3e-4)
    space = envs.single_action_space
    rb = NumpyReplayBuffer(1_000_000, envs.single_observation_space.shape, space.shape)
    returns: list = []
    clock = PhaseClock(learning_starts, steps)
    obs, _ = envs.reset(seed=seed)
    for global_step in range(learning_starts + steps):
        clock.tick(global_step)
        if global_step < learning_starts:
            actions = np.array([space.sample()])
        else:
            with torch.no_grad():
                actions = actor(torch.Tensor(obs))
                actions += torch.normal(0, actor.action_scale * 0.1)
                actions = actions.cpu().numpy().clip(space.low, space.high)
        obs = env_step(envs, rb, obs, actions, returns)
        if global_step > learning_starts:
            s, a, s2, done, r = rb.sample(batch_size)
            with torch.no_grad():
                next_q = qf1_target(s2, target_actor(s2))
                next_q_value = r.flatten() + (1 - done.flatten()) * 0.99 * next_q.view(-1)
            qf1_a_values = qf1(s, a).view(-1)
            qf1_loss = F.mse_loss(qf1_a_values, next_q_value)
            q_optimizer.zero_grad()
            qf1_loss.backward()
            q_optimizer.step()
            if global_step % policy_frequency == 0:
                actor_loss = -qf1(s, actor(s)).mean()
                actor_optimizer.zero_grad()
                actor_loss.backward()
                actor_optimizer.step()
                polyak(target_actor, actor, 0.005)
                polyak(qf1_target, qf1, 0.005)
            if global_step % 100 == 0:
                _ = (qf1_loss.item(), actor_loss.item(), qf1_a_values.mean().item())
    envs.close()
    return clock.rates()


# ---------------------------------------------------------------------------------------------
# SAC
# ---------------------------------------------------------------------------------------------
LOG_STD_MIN, LOG_STD_MAX = -5, 2


class SACActor(nn.Module):
    def __init__(self, env):
        super().__init__()
        obs_dim, act_dim = np.prod(env.single_observation_space.shape), np.prod(env.single_action_space.shape)
        self.fc1, self.fc2 = nn.Linear(obs_dim, 256), nn.Linear(256, 256)
        self.fc_mean, self.fc_logstd = nn.Linear(256, act_dim), nn.Linear(256, act_dim)
        high, low = env.single_action_space.high, env.single_action_space.low
        self.register_buffer("action_scale", torch.tensor((high - low) / 2.0, dtype=torch.float32))
        self.register_buffer("action_bias", torch.tensor((high + low) / 2.0, dtype=torch.float32))

    def get_action(self, x):
        x = F.relu(self.fc2(F.relu(self.fc1(x))))
        mean, log_std = self.fc_mean(x), torch.tanh(self.fc_logstd(x))
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1)
        normal = torch.distributions.Normal(mean, log_std.exp())
        x_t = normal.rsample()
        y_t = torch.tanh(x_t)
        action = y_t * self.action_scale + self.action_bias
        log_prob = normal.log_prob(x_t) - torch.log(self.action_scale * (1 - y_t.pow(2)) + 1e-6)
        return action, log_prob.sum(1, keepdim=True), torch.tanh(mean) * self.action_scale + self.action_bias


def sac(env_id: str, learning_starts: int, steps: int, seed: int = 1, policy_frequency: int = 2,
        batch_size: int = 256) -> float:
    seed_everything(seed)
    envs = make_envs(env_id, seed)
    actor = SACActor(envs)
    qf1, qf2, qf1_target, qf2_target = (QNetwork(envs) for _ in range(4))
    qf1_target.load_state_dict(qf1.state_dict())
    qf2_target.load_state_dict(qf2.state_dict())
    q_optimizer = torch.optim.Adam(list(qf1.parameters()) + list(qf2.parameters()), lr=1e-3)
    actor_optimizer = torch.optim.Adam(actor.parameters(), lr=3e-4)
    target_entropy = -float(np.prod(envs.single_action_space.shape))
    log_alpha = torch.zeros(1, requires_grad=True)
    alpha = log_alpha.exp().item()
    a_optimizer = torch.optim.Adam([log_alpha], lr=1e-3)
    space = envs.single_action_space
    rb = NumpyReplayBuffer(1_000_000, envs.single_observation_space.shape, space.shape)
    returns: list = []
    clock = PhaseClock(learning_starts, steps)
    obs, _ = envs.reset(seed=seed)
    for global_step in range(learning_starts + steps):
        clock.tick(global_step)
        if global_step < learning_starts:
            actions = np.array([space.sample()])
        else:
            actions, _, _ = actor.get_action(torch.Tensor(obs))
            actions = actions.detach().cpu().numpy()
        obs = env_step(envs, rb, obs, actions, returns)
        if global_step > learning_starts:
            s, a, s2, done, r = rb.sample(batch_size)
            with torch.no_grad():
                next_actions, next_log_pi, _ = actor.get_action(s2)
                min_next = torch.min(qf1_target(s2, next_actions), qf2_target(s2, next_actions)) - alpha * next_log_pi
                next_q_value = r.flatten() + (1 - done.flatten()) * 0.99 * min_next.view(-1)
            qf1_a_values, qf2_a_values = qf1(s, a).view(-1), qf2(s, a).view(-1)
            qf_loss = F.mse_loss(qf1_a_values, next_q_value) + F.mse_loss(qf2_a_values, next_q_value)
            q_optimizer.zero_grad()
            qf_loss.backward()
            q_optimizer.step()
            if global_step % policy_frequency == 0:
                for _ in range(policy_frequency):
                    pi, log_pi, _ = actor.get_action(s)
                    min_qf_pi = torch.min(qf1(s, pi), qf2(s, pi))
                    actor_loss = ((alpha * log_pi) - min_qf_pi).mean()
                    actor_optimizer.zero_grad()
                    actor_loss.backward()
                    actor_optimizer.step()
                    with torch.no_grad():
                        _, log_pi, _ = actor.get_action(s)
                    alpha_loss = (-log_alpha.exp() * (log_pi + target_entropy)).mean()
                    a_optimizer.zero_grad()
                    alpha_loss.backward()
                    a_optimizer.step()
                    alpha = log_alpha.exp().item()
            polyak(qf1_target, qf1, 0.005)
            polyak(qf2_target, qf2, 0.005)
            if global_step % 100 == 0:
                _ = (qf1_a_values.mean().item(), qf2_a_values.mean().item(), qf_loss.item(), actor_loss.item(),
                     alpha_loss.item())
    envs.close()
    return clock.rates()


# ---------------------------------------------------------------------------------------------
# DQN
# ---------------------------------------------------------------------------------------------
def dqn(env_id: str, learning_starts: int, steps: int, seed: int = 1, total_timesteps: int = 500_000,
        train_frequency: int = 10, target_network_frequency: int = 500, batch_size: int = 128) -> float:
    """CleanRL's dqn.py at its defaults, its epsilon schedule over half of total_timesteps."""
    seed_everything(seed)
    envs = make_envs(env_id, seed)
    obs_dim, n = int(np.prod(envs.single_observation_space.shape)), int(envs.single_action_space.n)

    def network():
        return nn.Sequential(nn.Linear(obs_dim, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, n))

    q_network, target_network = network(), network()
    target_network.load_state_dict(q_network.state_dict())
    optimizer = torch.optim.Adam(q_network.parameters(), lr=2.5e-4)
    rb = NumpyReplayBuffer(10_000, envs.single_observation_space.shape, (1,), np.int64)
    returns: list = []
    clock = PhaseClock(learning_starts, steps)
    obs, _ = envs.reset(seed=seed)
    for global_step in range(learning_starts + steps):
        clock.tick(global_step)
        epsilon = max(0.05, 1.0 + (0.05 - 1.0) * global_step / (0.5 * total_timesteps))
        if random.random() < epsilon:
            actions = np.array([envs.single_action_space.sample()])
        else:
            q_values = q_network(torch.Tensor(obs))
            actions = torch.argmax(q_values, dim=1).cpu().numpy()
        obs = env_step(envs, rb, obs, actions, returns)
        if global_step > learning_starts:
            if global_step % train_frequency == 0:
                s, a, s2, done, r = rb.sample(batch_size)
                with torch.no_grad():
                    target_max, _ = target_network(s2).max(dim=1)
                    td_target = r.flatten() + 0.99 * target_max * (1 - done.flatten())
                old_val = q_network(s).gather(1, a).squeeze()
                loss = F.mse_loss(td_target, old_val)
                if global_step % 100 == 0:
                    _ = (loss.item(), old_val.mean().item())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            if global_step % target_network_frequency == 0:
                polyak(target_network, q_network, 1.0)
    envs.close()
    return clock.rates()
