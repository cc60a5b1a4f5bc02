"""DDPG's rules checked on numbers worked out by hand."""

import math

import numpy as np
import pytest
import torch

import ddpg_continuous as ddpg
from tests.helpers import constant_layers

TWO_PI = 2 * math.pi


def constant_actor(value: float, low: float, high: float, action_dim: int) -> ddpg.Actor:
    """An Actor whose output is `value` in every dimension, whatever the observation."""
    actor = ddpg.Actor(2, np.full(action_dim, low, np.float32), np.full(action_dim, high, np.float32))
    last = actor.net[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(math.atanh((2 * value - high - low) / (high - low)))
    return actor


def test_bound_action_symmetric():
    low, high = torch.tensor([-2.0]), torch.tensor([2.0])
    x = torch.tensor([0.0, math.atanh(0.5), -math.atanh(0.5), 50.0, -50.0])
    expected = torch.tensor([0.0, 1.0, -1.0, 2.0, -2.0])
    assert torch.allclose(ddpg.bound_action(x, low, high), expected, atol=1e-6)


def test_bound_action_zero_to_two_pi():
    low, high = torch.zeros(12), torch.full((12,), TWO_PI)
    x = torch.tensor([0.0, math.atanh(0.5), -math.atanh(0.5)]).repeat(4).reshape(12)
    expected = torch.tensor([math.pi, 1.5 * math.pi, 0.5 * math.pi]).repeat(4).reshape(12)
    assert torch.allclose(ddpg.bound_action(x, low, high), expected, atol=1e-6)
    wild = ddpg.bound_action(torch.linspace(-100, 100, 12), low, high)
    assert (wild >= 0).all() and (wild <= TWO_PI).all()


def test_actor_output_lies_in_asymmetric_bounds():
    torch.manual_seed(0)
    actor = ddpg.Actor(5, np.array([0.0, -1.0, 10.0], np.float32), np.array([TWO_PI, 0.5, 11.0], np.float32))
    actions = actor(100 * torch.randn(1000, 5))
    assert (actions >= actor.low).all() and (actions <= actor.high).all()


def test_exploration_noise_is_centred_on_the_action_and_scaled_by_half_range():
    torch.manual_seed(0)
    actor = constant_actor(math.pi / 2, 0.0, TWO_PI, action_dim=12)
    obs = torch.zeros(20_000, 2)
    with torch.no_grad():
        actions = ddpg.exploration_action(actor, obs, noise_std=0.1)
    # mu = pi/2 sits 5 noise stds (0.1 * pi) inside the bounds, so clipping hardly touches the mean.
    assert actions.mean().item() == pytest.approx(math.pi / 2, abs=0.01)
    assert actions.std(dim=0).mean().item() == pytest.approx(0.1 * math.pi, rel=0.03)
    # independent draws per env and per dimension, not one noise vector shared by all envs
    assert not torch.equal(actions[0], actions[1])
    assert abs(np.corrcoef(actions[:, 0].numpy(), actions[:, 1].numpy())[0, 1]) < 0.05


def test_exploration_noise_stays_inside_bounds():
    torch.manual_seed(0)
    actor = constant_actor(0.05, 0.0, TWO_PI, action_dim=12)
    actions = ddpg.exploration_action(actor, torch.zeros(5000, 2), noise_std=3.0)
    assert (actions >= 0).all() and (actions <= TWO_PI).all()
    assert (actions == 0).any() and (actions == np.float32(TWO_PI)).any()  # large noise reaches both bounds


def test_td_target_bootstraps_unless_terminated():
    reward = torch.tensor([1.0, 1.0, -2.0])
    terminated = torch.tensor([0.0, 1.0, 0.0])
    next_q = torch.tensor([10.0, 10.0, 4.0])
    y = ddpg.td_target(reward, terminated, next_q, gamma=0.9)
    assert torch.allclose(y, torch.tensor([1.0 + 9.0, 1.0, -2.0 + 3.6]))


def test_critic_loss_is_mean_squared_error_without_broadcast():
    q, y = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.0, 0.0, 1.0])
    assert ddpg.critic_loss(q, y).item() == pytest.approx((1 + 4 + 4) / 3)
    critic = ddpg.Critic(3, 2)
    assert critic(torch.zeros(7, 3), torch.zeros(7, 2)).shape == (7,)


def linear_critic(slope: float) -> ddpg.Critic:
    """A Critic over (2-dim obs, 1-dim action) whose Q(s, a) is exactly slope * a for a in [-1, 1]."""
    critic = ddpg.Critic(2, 1)
    first, second, last = critic.net[0], critic.net[2], critic.net[4]
    with torch.no_grad():
        for p in critic.parameters():
            p.zero_()
        first.weight[0, 2], first.bias[0] = 1.0, 2.0  # unit 0 = relu(a + 2) = a + 2
        second.weight[0, 0] = 1.0  # unit 0 again
        last.weight[0, 0], last.bias[0] = slope, -2.0 * slope  # slope * (a + 2) - 2 slope
    return critic


def test_actor_loss_is_minus_mean_q_of_the_actors_action():
    actor = constant_actor(0.5, -1.0, 1.0, action_dim=1)
    # Q(s, a) = 3a and mu(s) = 0.5 for every s: the loss is -3 * 0.5, whatever the batch
    assert ddpg.actor_loss(actor, linear_critic(3.0), torch.randn(4, 2)).item() == pytest.approx(-1.5, abs=1e-6)
    assert ddpg.actor_loss(
        constant_actor(-0.25, -1.0, 1.0, 1), linear_critic(2.0), torch.randn(9, 2)
    ).item() == pytest.approx(0.5, abs=1e-6)


def test_polyak_update_moves_target_by_tau():
    online, target = constant_layers(online_value=1.0, target_value=0.0)
    ddpg.polyak_update(target, online, tau=0.1)
    assert all(torch.allclose(p, torch.full_like(p, 0.1)) for p in target.parameters())
    ddpg.polyak_update(target, online, tau=0.1)  # 0.9 * 0.1 + 0.1 * 1
    assert all(torch.allclose(p, torch.full_like(p, 0.19)) for p in target.parameters())


def stored_rows(values):
    """Transitions numbered by `values`: obs [v, v], action [v], reward v, next obs [v + 0.5, v + 0.5], not terminated."""
    v = np.array(values, dtype=np.float32)
    return v[:, None].repeat(2, 1), v[:, None], v, v[:, None].repeat(2, 1) + 0.5, np.zeros(len(v), bool)


def test_replay_buffer_wraps_around_and_samples_only_stored_rows():
    rb = ddpg.ReplayBuffer(5, obs_dim=2, action_dim=1, device=torch.device("cpu"))
    rb.add(*stored_rows([0, 1, 2]))
    assert (rb.pos, rb.size) == (3, 3)
    torch.manual_seed(0)
    sampled = rb.sample(200)[2]
    assert set(sampled.tolist()) == {0.0, 1.0, 2.0}  # the 2 empty rows are never drawn
    rb.add(*stored_rows([3, 4, 5, 6]))  # 3 and 4 fill the end, 5 and 6 wrap around over the oldest rows
    assert (rb.pos, rb.size) == (2, 5)
    assert rb.fields[2].tolist() == [5.0, 6.0, 2.0, 3.0, 4.0]
    obs, actions, rewards, next_obs, terminated = rb.sample(500)
    assert obs.shape == (500, 2) and actions.shape == (500, 1) and rewards.shape == terminated.shape == (500,)
    assert set(rewards.tolist()) == {2.0, 3.0, 4.0, 5.0, 6.0}
    # each sampled row stays one transition: its fields come from the same stored row
    assert torch.equal(obs[:, 0], rewards) and torch.equal(obs[:, 1], rewards) and torch.equal(actions[:, 0], rewards)
    assert torch.equal(next_obs[:, 0], rewards + 0.5) and torch.equal(next_obs[:, 1], rewards + 0.5)
    assert not terminated.any()


def test_replay_buffer_stores_several_envs_at_once_across_the_wrap():
    rb = ddpg.ReplayBuffer(4, obs_dim=2, action_dim=1, device=torch.device("cpu"))
    rb.add(*stored_rows([0, 1, 2]))
    rb.add(*stored_rows([3, 4, 5]))  # one vector step of 3 envs: row 3, then rows 0 and 1
    assert (rb.pos, rb.size) == (2, 4)
    obs, actions, rewards, next_obs, _ = rb.fields
    assert rewards.tolist() == [4.0, 5.0, 2.0, 3.0]
    assert obs[:, 1].tolist() == [4.0, 5.0, 2.0, 3.0] and next_obs[:, 0].tolist() == [4.5, 5.5, 2.5, 3.5]


def test_replay_buffer_state_round_trip():
    rb = ddpg.ReplayBuffer(4, obs_dim=2, action_dim=1, device=torch.device("cpu"))
    obs, actions, rewards, next_obs, _ = stored_rows([0, 1, 2])
    rb.add(obs, actions, rewards, next_obs, np.array([False, True, False]))
    copy = ddpg.ReplayBuffer(4, obs_dim=2, action_dim=1, device=torch.device("cpu"))
    ddpg.load_buffer_state(copy, ddpg.buffer_state(rb))
    assert (copy.pos, copy.size) == (3, 3)
    assert all(torch.equal(a, b) for a, b in zip(copy.fields, rb.fields))
    assert copy.fields[4].tolist() == [0.0, 1.0, 0.0, 0.0]


def ddpg_setup():
    torch.manual_seed(0)
    actor = ddpg.Actor(3, np.array([-2.0], np.float32), np.array([2.0], np.float32))
    critic = ddpg.Critic(3, 1)
    targets = (ddpg.Actor(3, np.array([-2.0], np.float32), np.array([2.0], np.float32)), ddpg.Critic(3, 1))
    batch = (torch.randn(32, 3), 2 * torch.rand(32, 1) - 1, torch.randn(32), torch.randn(32, 3), torch.zeros(32))
    return actor, critic, targets, batch


def constant_critic(value: float, obs_dim: int = 3) -> ddpg.Critic:
    """A Critic whose Q(s, a) is `value` for every input."""
    critic = ddpg.Critic(obs_dim, 1)
    with torch.no_grad():
        critic.net[-1].weight.zero_()
        critic.net[-1].bias.fill_(value)
    return critic


def test_update_critic_returns_the_hand_worked_td_loss():
    # Q = 0 everywhere, Q' = 2 everywhere, r = 1, gamma = 0.5: y = 1 + 0.5 * 2 = 2, or 1 where terminated.
    critic, target_critic = constant_critic(0.0), constant_critic(2.0)
    target_actor = ddpg.Actor(3, np.array([-2.0], np.float32), np.array([2.0], np.float32))
    batch = (torch.randn(2, 3), torch.zeros(2, 1), torch.ones(2), torch.randn(2, 3), torch.tensor([0.0, 1.0]))
    optimizer = torch.optim.SGD(critic.parameters(), lr=0.1)
    loss, q_mean = ddpg.update_critic(critic, optimizer, target_actor, target_critic, batch, gamma=0.5)
    assert loss.item() == pytest.approx((2.0**2 + 1.0**2) / 2) and q_mean.item() == 0.0
    # one SGD step on the last bias: d loss / d b = mean 2 (q - y) = -3, so b = 0 + 0.1 * 3
    assert critic.net[-1].bias.item() == pytest.approx(0.3)


def test_update_critic_lowers_the_td_error_and_no_gradient_reaches_the_targets(monkeypatch):
    actor, critic, (target_actor, target_critic), batch = ddpg_setup()
    targets = [*target_actor.parameters(), *target_critic.parameters()]
    assert all(p.requires_grad for p in targets)  # even unfrozen targets must get no gradient from the TD target
    labels = []
    monkeypatch.setattr(ddpg, "td_target", lambda *a, **k: labels.append(original_td_target(*a, **k)) or labels[-1])
    optimizer = torch.optim.SGD(critic.parameters(), lr=0.05)
    first_loss, _ = ddpg.update_critic(critic, optimizer, target_actor, target_critic, batch, gamma=0.99)
    for _ in range(20):
        loss, q_mean = ddpg.update_critic(critic, optimizer, target_actor, target_critic, batch, gamma=0.99)
    assert loss < 0.5 * first_loss  # same batch, fixed targets: plain regression
    assert not loss.requires_grad and q_mean.shape == ()
    assert len(labels) == 21 and not any(y.requires_grad for y in labels)  # y is a label, not a function of weights
    assert all(p.grad is None for p in targets)


original_td_target = ddpg.td_target


def test_update_critic_values_s_prime_at_the_target_actors_action():
    # Q'(s', a) = 2a and mu'(s') = 0.5, so Q'(s', mu'(s')) = 1; the batch's own actions (-1) would give Q' = -2.
    # Q = 0, r = 1, gamma = 0.5, not terminated: y = 1 + 0.5 * 1 = 1.5 and the loss is 1.5^2.
    critic, target_critic, target_actor = (
        constant_critic(0.0, obs_dim=2),
        linear_critic(2.0),
        constant_actor(0.5, -1, 1, 1),
    )
    batch = (torch.randn(4, 2), -torch.ones(4, 1), torch.ones(4), torch.randn(4, 2), torch.zeros(4))
    optimizer = torch.optim.SGD(critic.parameters(), lr=0.1)
    loss, _ = ddpg.update_critic(critic, optimizer, target_actor, target_critic, batch, gamma=0.5)
    assert loss.item() == pytest.approx(1.5**2)
    assert all(p.grad is None for p in [*target_actor.parameters(), *target_critic.parameters()])


def test_update_actor_raises_q_without_touching_the_critic():
    actor, critic, _, batch = ddpg_setup()
    critic_before = [p.clone() for p in critic.parameters()]
    optimizer = torch.optim.SGD(actor.parameters(), lr=0.05)
    q_before = critic(batch[0], actor(batch[0])).mean().item()
    for _ in range(10):
        ddpg.update_actor(actor, optimizer, critic, batch[0])
    assert critic(batch[0], actor(batch[0])).mean().item() > q_before
    assert all(torch.equal(a, b) for a, b in zip(critic_before, critic.parameters()))
    assert all(p.grad is None and p.requires_grad for p in critic.parameters())  # no gradient computed for it
