"""DQN's rules checked on numbers worked out by hand, and its target-network schedule in a real run."""

import copy
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


def test_truncated_transition_still_bootstraps():
    # a time-limit truncation is stored with terminated = 0: the future value stays in the target
    y = dqn.td_target(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([[4.0, 6.0]]), gamma=0.9)
    assert y.item() == pytest.approx(1.0 + 0.9 * 6.0)


def test_td_loss_mse_and_huber():
    q, y = torch.zeros(3), torch.tensor([0.5, 2.0, -3.0])
    assert dqn.td_loss(q, y, "mse").item() == pytest.approx((0.25 + 4.0 + 9.0) / 3)
    # Huber with delta 1: 0.5 x^2 inside [-1, 1], |x| - 0.5 outside
    assert dqn.td_loss(q, y, "huber").item() == pytest.approx((0.125 + 1.5 + 2.5) / 3)


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


def hand_made_q_network() -> dqn.QNetwork:
    """The default 120-84 widths, every layer constant: hidden weights 0.1 then 0.01, output rows +1 and -1, biases 0 and 1."""
    q = dqn.QNetwork(obs_dim=2, num_actions=2)
    with torch.no_grad():
        for layer, value in ((q.net[1], 0.1), (q.net[3], 0.01)):
            layer.weight.fill_(value)
            layer.bias.zero_()
        q.net[-1].weight[0], q.net[-1].weight[1] = 1.0, -1.0
        q.net[-1].bias.copy_(torch.tensor([0.0, 1.0]))
    return q


def test_numpy_q_values_match_the_hand_computed_ones_and_the_network():
    q = hand_made_q_network()
    obs = np.array([[2.0, 1.0], [1.0, -3.0]], dtype=np.float32)
    # row 0: fc1 gives 0.1 * 3 = 0.3 on 120 units, fc2 gives 120 * 0.3 * 0.01 = 0.36 on 84 units,
    # so Q = (84 * 0.36, -84 * 0.36 + 1) = (30.24, -29.24). Row 1: fc1 gives relu(-0.2) = 0, Q = the biases.
    expected = np.array([[30.24, -29.24], [0.0, 1.0]])
    assert dqn.q_values_numpy(q.numpy_layers(), obs) == pytest.approx(expected, abs=1e-4)
    assert q(torch.from_numpy(obs)).detach().numpy() == pytest.approx(expected, abs=1e-4)


def test_numpy_layers_follow_optimizer_steps_and_loaded_weights():
    torch.manual_seed(0)
    q = dqn.QNetwork(obs_dim=4, num_actions=3)
    layers = q.numpy_layers()  # taken once, as train() does
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    before = dqn.q_values_numpy(layers, obs)
    optimizer = torch.optim.Adam(q.parameters(), lr=0.1, fused=True)
    q(torch.from_numpy(obs)).sum().backward()
    optimizer.step()
    after_step = dqn.q_values_numpy(layers, obs)
    assert not np.allclose(after_step, before)
    assert after_step == pytest.approx(q(torch.from_numpy(obs)).detach().numpy(), abs=1e-5)
    q.load_state_dict(dqn.QNetwork(obs_dim=4, num_actions=3).state_dict())  # as --resume does
    assert not np.allclose(dqn.q_values_numpy(layers, obs), after_step)
    assert dqn.q_values_numpy(layers, obs) == pytest.approx(q(torch.from_numpy(obs)).detach().numpy(), abs=1e-5)


def test_epsilon_greedy_acts_the_same_through_numpy_and_torch():
    torch.manual_seed(1)
    q = dqn.QNetwork(obs_dim=4, num_actions=3)
    obs = np.random.default_rng(1).normal(size=(2000, 4)).astype(np.float32)
    np.random.seed(0)
    with_torch = dqn.epsilon_greedy(q, obs, 0.3, num_actions=3)
    np.random.seed(0)
    with_numpy = dqn.epsilon_greedy(q, obs, 0.3, num_actions=3, layers=q.numpy_layers())
    assert np.array_equal(with_torch, with_numpy)
    assert len(np.unique(with_numpy)) == 3


def test_update_target_copies_or_moves_by_tau():
    online, target = constant_layers(online_value=1.0, target_value=0.0)
    dqn.update_target(list(target.parameters()), list(online.parameters()), tau=0.25)
    assert all(torch.allclose(p, torch.full_like(p, 0.25)) for p in target.parameters())
    dqn.update_target(list(target.parameters()), list(online.parameters()), tau=1.0)
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
        target_network = sys._getframe(1).f_locals["target_network"]
        if [id(p) for p in target] != [id(p) for p in target_network.parameters()]:  # Qbar's update, every step
            return real_update_target(target, online, tau)
        state = [p.detach().clone() for p in target]
        if last_target:  # nothing else may touch the target between two scheduled updates
            assert all(torch.equal(a, b) for a, b in zip(state, last_target["params"])), "target changed off-schedule"
        calls.append(sys._getframe(1).f_locals["global_step"])
        real_update_target(target, online, tau)
        assert all(torch.equal(p, q) for p, q in zip(target, online))  # tau = 1: a copy
        last_target["params"] = [p.detach().clone() for p in target]

    monkeypatch.setattr(dqn, "update_target", spy)
    args = dqn.Args(env_id="tests.envs:Choice-v0", runs_dir=str(tmp_path), total_timesteps=200, learning_starts=40,
                    batch_size=8, train_frequency=10, gradient_steps=2, target_network_frequency=25, eval_episodes=1,
                    log_frequency=50)
    dqn.train(args)
    assert calls == [50, 75, 100, 125, 150, 175, 200]
    checkpoint = torch.load(next(tmp_path.iterdir()) / "checkpoint.pt", weights_only=False)
    assert checkpoint["num_updates"] == 2 * 17  # two at each of steps 40, 50, ..., 200
    for name, value in checkpoint["target_network"].items():
        assert torch.equal(value, checkpoint["q_network"][name])  # the last copy came after the last gradient step


def test_policy_network_is_the_running_average_of_q_after_every_gradient_step(tmp_path, monkeypatch):
    """Qbar_0 = Q_0, then Qbar_k = (1 - tau) Qbar_(k-1) + tau Q_k after gradient step k, worked out here from the
    Q-network's weights after each step; the checkpoint's average_network must be that, not Q."""
    real_update_q, q_after_each_step, q_before = dqn.update_q, [], []

    def spy(q_network, *rest):
        if not q_before:
            q_before.append([p.detach().clone() for p in q_network.parameters()])
        result = real_update_q(q_network, *rest)
        q_after_each_step.append([p.detach().clone() for p in q_network.parameters()])
        return result

    monkeypatch.setattr(dqn, "update_q", spy)
    tau = 0.25
    args = dqn.Args(env_id="tests.envs:Choice-v0", runs_dir=str(tmp_path), total_timesteps=120, learning_starts=40,
                    batch_size=8, train_frequency=10, gradient_steps=3, eval_episodes=1, average_tau=tau)
    dqn.train(args)
    assert len(q_after_each_step) == 3 * 9  # three at each of steps 40, 50, ..., 120
    expected = q_before[0]
    for q_k in q_after_each_step:
        expected = [(1 - tau) * a + tau * q for a, q in zip(expected, q_k)]
    checkpoint = torch.load(next(tmp_path.iterdir()) / "checkpoint.pt", weights_only=False)
    average = list(checkpoint["average_network"].values())
    assert all(torch.allclose(a, e, atol=1e-6) for a, e in zip(average, expected))
    assert not all(torch.allclose(a, q) for a, q in zip(average, q_after_each_step[-1]))  # the average lags Q


def balancing_q_network() -> dqn.QNetwork:
    """CartPole's textbook rule as a Q-network: push right (action 1) when pole angle + angular velocity > 0, else left.
    Hidden units relu(theta + theta_dot) and relu(-(theta + theta_dot)) become Q(s, 1) and Q(s, 0)."""
    q = dqn.QNetwork(4, 2, (2,))
    with torch.no_grad():
        q.net[1].weight.copy_(torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, -1.0, -1.0]]))
        q.net[1].bias.zero_()
        q.net[3].weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
        q.net[3].bias.zero_()
    return q


def always_left_q_network() -> dqn.QNetwork:
    q = balancing_q_network()
    with torch.no_grad():
        q.net[3].weight.zero_()
        q.net[3].bias.copy_(torch.tensor([1.0, 0.0]))
    return q


def test_validation_episodes_are_seeded_apart_from_the_evaluations():
    """Episode i of an evaluation at seed_offset k starts from env seed (seed + k + i), epsilon drawn from a generator
    seeded seed + k: offset 2 000 000 at seed 1 plays exactly what offset 1 000 000 plays at seed 1 000 001."""
    args = dqn.Args(env_id="CartPole-v1", seed=1, eval_episodes=5, eval_epsilon=0.05)
    validation = dqn.evaluate(balancing_q_network(), args, "", seed_offset=2_000_000)
    shifted = dqn.evaluate(balancing_q_network(), dqn.Args(env_id="CartPole-v1", seed=1_000_001, eval_episodes=5,
                                                           eval_epsilon=0.05), "")
    assert np.array_equal(validation, shifted)
    assert not np.array_equal(validation, dqn.evaluate(balancing_q_network(), args, ""))  # other start states


def test_choose_policy_keeps_the_network_that_does_better_on_validation_episodes(monkeypatch):
    args = dqn.Args(env_id="CartPole-v1", seed=3, eval_episodes=4, eval_epsilon=0.0)
    left, balancing = always_left_q_network(), balancing_q_network()
    assert dqn.evaluate(left, args, "").mean() < 15 < 100 < dqn.evaluate(balancing, args, "").mean()
    assert dqn.choose_policy({"average_network": left, "q_network": balancing}, args) == "q_network"
    assert dqn.choose_policy({"average_network": balancing, "q_network": left}, args) == "average_network"
    assert dqn.choose_policy({"average_network": left, "q_network": copy.deepcopy(left)}, args) == "average_network"
    offsets = []  # scored on the validation episodes, not on the evaluation's
    real_evaluate = dqn.evaluate
    monkeypatch.setattr(dqn, "evaluate", lambda *a, **k: offsets.append(k["seed_offset"]) or real_evaluate(*a, **k))
    dqn.choose_policy({"average_network": left, "q_network": balancing}, args)
    assert offsets == [2_000_000, 2_000_000]


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


@pytest.mark.parametrize("double_dqn,expected_loss", [(False, 3.5**2), (True, 0.5**2)])
def test_update_q_follows_the_double_dqn_flag(double_dqn, expected_loss):
    # online Q = [0, 5], target Q' = [7, 1], r = 0, gamma = 0.5, action 0 taken (Q(s, a) = 0):
    # DQN values s' at max Q' = 7, so y = 3.5; double DQN picks argmax Q = 1 and values it with Q': y = 0.5.
    q_network, target_network = constant_q_network([0.0, 5.0]), constant_q_network([7.0, 1.0])
    batch = (torch.randn(8, 4), torch.zeros(8, dtype=torch.long), torch.zeros(8), torch.randn(8, 4), torch.zeros(8))
    optimizer = torch.optim.SGD(q_network.parameters(), lr=0.0)
    loss, q_mean = dqn.update_q(q_network, optimizer, target_network, batch, 0.5, double_dqn, "mse")
    assert loss.item() == pytest.approx(expected_loss) and q_mean.item() == 0.0
