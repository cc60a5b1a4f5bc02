"""SAC's rules checked against torch.distributions and on numbers worked out by hand."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import AffineTransform, Normal, TanhTransform, TransformedDistribution

import sac_continuous as sac


def test_log_prob_matches_torch_distributions_for_asymmetric_bounds():
    torch.manual_seed(0)
    low, high = torch.tensor([0.0, -1.0, 10.0]), torch.tensor([2 * math.pi, 0.5, 11.0])
    mean, log_std = 0.5 * torch.randn(64, 3), -1.0 + 0.3 * torch.randn(64, 3)
    eps = torch.randn(64, 3)
    u = mean + log_std.exp() * eps
    ours = sac.squashed_log_prob(u, eps, log_std, 0.5 * (high - low))
    reference = TransformedDistribution(
        Normal(mean, log_std.exp()), [TanhTransform(), AffineTransform(0.5 * (high + low), 0.5 * (high - low))]
    )
    action = sac.bound_action(u, low, high)
    assert torch.allclose(ours, reference.log_prob(action).sum(-1), atol=1e-4, rtol=1e-5)


def test_log_prob_stays_finite_at_saturation():
    u = torch.tensor([[20.0, -20.0, 50.0]])
    log_prob = sac.squashed_log_prob(u, torch.zeros_like(u), torch.zeros_like(u), torch.ones(3))
    assert torch.isfinite(log_prob).all()
    # log(1 - tanh(u)^2) ~ log 4 - 2|u| for large |u|, so log pi grows like 2|u| per dimension
    expected = 3 * (-0.5 * math.log(2 * math.pi)) - sum(math.log(4) - 2 * abs(x) for x in [20.0, -20.0, 50.0])
    assert log_prob.item() == pytest.approx(expected, rel=1e-5)


def test_sampled_actions_lie_in_bounds_and_deterministic_action_is_squashed_mean():
    torch.manual_seed(0)
    actor = sac.Actor(4, np.array([0.0, -3.0], np.float32), np.array([2 * math.pi, -1.0], np.float32))
    obs = 10 * torch.randn(500, 4)
    actions, log_prob = actor.sample(obs)
    assert actions.shape == (500, 2) and log_prob.shape == (500,)
    assert (actions >= actor.low).all() and (actions <= actor.high).all()
    mean, log_std = actor(obs)
    assert (log_std >= sac.LOG_STD_MIN).all() and (log_std <= sac.LOG_STD_MAX).all()
    assert torch.allclose(actor.deterministic(obs), sac.bound_action(mean, actor.low, actor.high))


def test_soft_td_target_uses_min_of_targets_and_entropy_term():
    reward = torch.tensor([1.0, 1.0, 0.0])
    terminated = torch.tensor([0.0, 1.0, 0.0])
    next_q = torch.tensor([[5.0, 5.0, -2.0], [3.0, 7.0, -1.0]])  # min per row: 3, 5, -2
    next_log_prob = torch.tensor([-1.0, -1.0, 2.0])
    y = sac.soft_td_target(reward, terminated, next_q, next_log_prob, alpha=torch.tensor(0.5), gamma=0.9)
    # row 0: 1 + 0.9 * (3 + 0.5); row 1: terminated; row 2: 0.9 * (-2 - 1)
    assert torch.allclose(y, torch.tensor([1.0 + 0.9 * 3.5, 1.0, 0.9 * -3.0]))


def test_loss_shapes_never_broadcast_to_batch_by_batch():
    torch.manual_seed(0)
    batch = 5
    critic = sac.TwinCritic(3, 2)
    q = critic(torch.randn(batch, 3), torch.randn(batch, 2))
    assert q.shape == (2, batch)
    y = torch.randn(batch)
    expected = ((q[0] - y) ** 2).mean() + ((q[1] - y) ** 2).mean()
    assert sac.critic_loss(q, y).item() == pytest.approx(expected.item(), rel=1e-6)
    log_prob = torch.randn(batch)
    alpha = torch.tensor(0.2)
    expected_actor = torch.stack([alpha * log_prob[i] - q[:, i].min() for i in range(batch)]).mean()
    assert sac.actor_loss(log_prob, q, alpha).item() == pytest.approx(expected_actor.item(), rel=1e-6)


def test_twin_critics_are_two_independent_networks():
    torch.manual_seed(0)
    critic = sac.TwinCritic(3, 1)
    obs, action = torch.randn(4, 3), torch.randn(4, 1)
    q = critic(obs, action)
    assert q.shape == (2, 4) and not torch.allclose(q[0], q[1])  # initialized separately
    assert not {id(p) for p in critic.q1.parameters()} & {id(p) for p in critic.q2.parameters()}
    for i, network in enumerate([critic.q1, critic.q2]):  # network i alone, written as plain matmuls
        first, second, last = (m for m in network.net if isinstance(m, torch.nn.Linear))
        x = torch.relu(torch.cat([obs, action], 1) @ first.weight.T + first.bias)
        x = torch.relu(x @ second.weight.T + second.bias)
        assert torch.allclose(q[i], (x @ last.weight.T + last.bias).squeeze(-1), atol=1e-6)


@pytest.mark.parametrize("entropy,direction", [(-3.0, "up"), (1.0, "down")])
def test_alpha_rises_when_entropy_is_below_target_and_falls_above(entropy, direction):
    target_entropy = -1.0
    log_alpha = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([log_alpha], lr=0.1)
    log_prob = torch.full((8,), -entropy)  # entropy estimate = -mean log pi
    sac.alpha_loss(log_alpha, log_prob, target_entropy).backward()
    assert log_alpha.grad.item() == pytest.approx(entropy - target_entropy)
    optimizer.step()
    assert (log_alpha.item() > 0) == (direction == "up")


def test_polyak_update_moves_target_by_tau():
    online, target = sac.TwinCritic(2, 1), sac.TwinCritic(2, 1)
    before = [p.clone() for p in target.parameters()]
    sac.polyak_update(target, online, tau=0.25)
    for old, new, src in zip(before, target.parameters(), online.parameters()):
        assert torch.allclose(new, 0.75 * old + 0.25 * src)


def test_update_functions_move_only_their_own_parameters(monkeypatch):
    torch.manual_seed(0)
    labels, soft_td_target = [], sac.soft_td_target
    monkeypatch.setattr(sac, "soft_td_target", lambda *a, **k: labels.append(soft_td_target(*a, **k)) or labels[-1])
    low, high = np.array([0.0, -1.0], np.float32), np.array([2 * math.pi, 0.5], np.float32)
    actor, critic, target_critic = sac.Actor(3, low, high), sac.TwinCritic(3, 2), sac.TwinCritic(3, 2)
    batch = (torch.randn(32, 3), torch.rand(32, 2), torch.randn(32), torch.randn(32, 3), torch.zeros(32))
    alpha = torch.tensor(0.2)

    def snapshot(*modules):
        return [p.clone() for m in modules for p in m.parameters()]

    others = snapshot(actor, target_critic)
    q_optimizer = torch.optim.SGD(critic.parameters(), lr=0.05)
    first, _ = sac.update_critic(critic, q_optimizer, actor, target_critic, batch, alpha, gamma=0.99)
    for _ in range(20):
        losses, q_means = sac.update_critic(critic, q_optimizer, actor, target_critic, batch, alpha, gamma=0.99)
    assert losses.shape == q_means.shape == (2,)
    assert losses.sum() < first.sum()  # the targets are sampled, so noisy, but both critics regress toward them
    assert all(torch.equal(a, b) for a, b in zip(others, snapshot(actor, target_critic)))
    # y is a label: no gradient from it reaches the policy that sampled a' or the target critics, though both require one
    assert len(labels) == 21 and not any(y.requires_grad for y in labels)
    assert all(p.requires_grad and p.grad is None for p in [*actor.parameters(), *target_critic.parameters()])

    critics, critic_grads = snapshot(critic), [p.grad.clone() for p in critic.parameters()]
    pi_optimizer = torch.optim.SGD(actor.parameters(), lr=0.01)
    loss, log_prob = sac.update_actor(actor, pi_optimizer, critic, batch[0], alpha)
    assert log_prob.shape == (32,) and not loss.requires_grad
    assert all(torch.equal(a, b) for a, b in zip(critics, snapshot(critic)))
    assert all(torch.equal(g, p.grad) and p.requires_grad for g, p in zip(critic_grads, critic.parameters()))

    log_alpha = torch.zeros(1, requires_grad=True)
    alpha_optimizer = torch.optim.SGD([log_alpha], lr=0.1)
    # entropy estimate -mean(log_prob) = 5 is above the target -2: the loss is 7 log_alpha and alpha goes down
    sac.update_alpha(log_alpha, alpha_optimizer, torch.full((32,), -5.0), target_entropy=-2.0)
    assert log_alpha.item() == pytest.approx(-0.1 * 7.0)
