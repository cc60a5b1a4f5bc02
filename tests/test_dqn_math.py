"""DQN's rules checked on numbers worked out by hand, and its target-network schedule in a real run."""

import sys

import numpy as np
import pytest
import torch

import dqn_discrete as dqn
import tests.envs  # noqa: F401  (registers the tiny test environments)
from tests.helpers import constant_layers

# Three transitions, two actions. Row 2 is terminated, so its target is its reward alone.
REWARD = torch.tensor([1.0, 0.0, 2.0])
TERMINATED = torch.tensor([0.0, 0.0, 1.0])
NEXT_Q_TARGET = torch.tensor([[1.0, 3.0], [5.0, 2.0], [0.0, -1.0]])
NEXT_Q_ONLINE = torch.tensor([[4.0, 0.0], [1.0, 9.0], [2.0, 3.0]])


def test_td_target_takes_the_target_networks_max():
    y = dqn.td_target(REWARD, TERMINATED, NEXT_Q_TARGET, gamma=0.5)
    # max_a' Q'(s', a') = 3, 5, (0): y = 1 + 0.5 * 3, 0 + 0.5 * 5, 2
    assert torch.allclose(y, torch.tensor([2.5, 2.5, 2.0]))


def test_double_dqn_picks_with_the_online_network_and_values_with_the_target():
    y = dqn.td_target(REWARD, TERMINATED, NEXT_Q_TARGET, gamma=0.5, next_q_online=NEXT_Q_ONLINE)
    # argmax of the online net: actions 0, 1, (1); the target net values them 1, 2, (-1)
    assert torch.allclose(y, torch.tensor([1.5, 1.0, 2.0]))


def test_epsilon_schedule_endpoints_and_midpoint():
    assert dqn.linear_schedule(1.0, 0.05, 1000, 0) == pytest.approx(1.0)
    assert dqn.linear_schedule(1.0, 0.05, 1000, 500) == pytest.approx(0.525)
    assert dqn.linear_schedule(1.0, 0.05, 1000, 1000) == pytest.approx(0.05)
    assert dqn.linear_schedule(1.0, 0.05, 1000, 250_000) == pytest.approx(0.05)  # flat after the schedule


class FixedQ(torch.nn.Module):
    """A stand-in Q-network whose greedy action is always 2 of 3."""

    def forward(self, obs):
        return torch.tensor([0.0, 1.0, 5.0]).expand(len(obs), 3)


@pytest.mark.parametrize("epsilon,greedy_share", [(0.0, 1.0), (1.0, 1 / 3), (0.5, 0.5 + 0.5 / 3)])
def test_epsilon_greedy_explores_with_probability_epsilon(epsilon, greedy_share):
    np.random.seed(0)
    actions = dqn.epsilon_greedy(FixedQ(), torch.zeros(30_000, 2), epsilon, num_actions=3)
    assert actions.shape == (30_000,)
    assert np.mean(actions == 2) == pytest.approx(greedy_share, abs=0.01)
    if epsilon > 0:  # random actions cover every action, each as often
        assert np.bincount(actions, minlength=3)[:2] / len(actions) == pytest.approx([epsilon / 3] * 2, abs=0.01)


def test_update_target_copies_or_moves_by_tau():
    online, target = constant_layers(online_value=1.0, target_value=0.0)
    dqn.update_target(target, online, tau=0.25)
    assert all(torch.allclose(p, torch.full_like(p, 0.25)) for p in target.parameters())
    dqn.update_target(target, online, tau=1.0)
    assert all(torch.equal(p, q) for p, q in zip(target.parameters(), online.parameters()))


def test_is_due_fires_once_per_multiple_with_several_envs():
    # 3 envs: global_step runs 3, 6, 9, ...; with every=10 the steps that pass 10, 20, 30 are 12, 21, 30
    due = [step for step in range(3, 40, 3) if dqn.is_due(step, 10, 3)]
    assert due == [12, 21, 30]


def test_target_network_changes_exactly_at_its_own_steps(tmp_path, monkeypatch):
    """Target every 25 steps, training every 10: updates at 50, 75, 100, ... (not only where both divide, at 50, 100)."""
    real_update_target = dqn.update_target
    calls, last_target = [], {}

    def spy(target, online, tau):
        assert target is sys._getframe(1).f_locals["target_network"]
        state = [p.detach().clone() for p in target.parameters()]
        if last_target:  # nothing else may touch the target between two scheduled updates
            assert all(torch.equal(a, b) for a, b in zip(state, last_target["params"])), "target changed off-schedule"
        calls.append(sys._getframe(1).f_locals["global_step"])
        real_update_target(target, online, tau)
        assert all(torch.equal(p, q) for p, q in zip(target.parameters(), online.parameters()))  # tau = 1: a copy
        last_target["params"] = [p.detach().clone() for p in target.parameters()]

    monkeypatch.setattr(dqn, "update_target", spy)
    args = dqn.Args(
        env_id="tests.envs:Choice-v0",
        runs_dir=str(tmp_path),
        total_timesteps=200,
        learning_starts=40,
        batch_size=8,
        train_frequency=10,
        gradient_steps=2,
        target_network_frequency=25,
        eval_episodes=1,
        log_frequency=50,
    )
    dqn.train(args)
    assert calls == [50, 75, 100, 125, 150, 175, 200]
    checkpoint = torch.load(next(tmp_path.iterdir()) / "checkpoint.pt", weights_only=False)
    assert checkpoint["num_updates"] == 2 * 17  # two at each of steps 40, 50, ..., 200
    for name, value in checkpoint["target_network"].items():
        assert torch.equal(value, checkpoint["q_network"][name])  # the last copy came after the last gradient step


@pytest.mark.parametrize("double_dqn", [False, True])
def test_update_q_regresses_toward_a_fixed_target_and_no_gradient_reaches_it(double_dqn, monkeypatch):
    torch.manual_seed(0)
    q_network, target_network = dqn.QNetwork(4, 2), dqn.QNetwork(4, 2)
    target_before = [p.clone() for p in target_network.parameters()]
    labels, td_target = [], dqn.td_target
    monkeypatch.setattr(dqn, "td_target", lambda *a, **k: labels.append(td_target(*a, **k)) or labels[-1])
    batch = (torch.randn(32, 4), torch.randint(0, 2, (32,)), torch.randn(32), torch.randn(32, 4), torch.zeros(32))
    optimizer = torch.optim.SGD(q_network.parameters(), lr=0.05)
    first, _ = dqn.update_q(q_network, optimizer, target_network, batch, 0.9, double_dqn, "mse")
    for _ in range(20):
        loss, q_mean = dqn.update_q(q_network, optimizer, target_network, batch, 0.9, double_dqn, "mse")
    assert loss < first and q_mean.shape == () and not loss.requires_grad
    assert all(torch.equal(a, b) for a, b in zip(target_before, target_network.parameters()))
    # the target network requires grad here, yet the label y is built without a graph: no gradient reaches it
    assert len(labels) == 21 and not any(y.requires_grad for y in labels)
    assert all(p.requires_grad and p.grad is None for p in target_network.parameters())


def constant_q_network(values: list[float]) -> dqn.QNetwork:
    """A QNetwork whose Q(s, .) is `values` for every observation."""
    q = dqn.QNetwork(4, len(values))
    with torch.no_grad():
        q.net[-1].weight.zero_()
        q.net[-1].bias.copy_(torch.tensor(values))
    return q


@pytest.mark.parametrize(
    "double_dqn,loss_kind,expected_loss",
    [(False, "mse", 3.5**2), (True, "mse", 0.5**2), (False, "huber", 3.5 - 0.5), (True, "huber", 0.5 * 0.5**2)],
)
def test_update_q_follows_the_double_dqn_flag_and_the_loss_kind(double_dqn, loss_kind, expected_loss):
    # online Q = [0, 5], target Q' = [7, 1], r = 0, gamma = 0.5, action 0 taken (Q(s, a) = 0):
    # DQN values s' at max Q' = 7, so y = 3.5; double DQN picks argmax Q = 1 and values it with Q': y = 0.5.
    # Huber (delta 1) is x^2 / 2 for |x| <= 1 and |x| - 1/2 beyond: 3.0 for an error of 3.5, 0.125 for 0.5.
    q_network, target_network = constant_q_network([0.0, 5.0]), constant_q_network([7.0, 1.0])
    batch = (torch.randn(8, 4), torch.zeros(8, dtype=torch.long), torch.zeros(8), torch.randn(8, 4), torch.zeros(8))
    optimizer = torch.optim.SGD(q_network.parameters(), lr=0.0)
    loss, q_mean = dqn.update_q(q_network, optimizer, target_network, batch, 0.5, double_dqn, loss_kind)
    assert loss.item() == pytest.approx(expected_loss) and q_mean.item() == 0.0
