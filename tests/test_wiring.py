"""How each script's train() wires its rules together, checked in-process on a run of a few dozen steps.

The math tests check each update rule on numbers worked out by hand; these check that the loop hands each rule
the networks the equations name (the target networks where y is computed, the online ones where gradients flow),
in the order the lecture's pseudo-code gives (act, step, store, learn), on the schedule the flags set, and that the
policy evaluated is the one the docstring names. Every update function, the acting function, the env's step and the
replay buffer's add are wrapped by spies that record their arguments and pass the call on unchanged.
"""

import importlib
import inspect

import gymnasium as gym
import numpy as np
import pytest
import torch

import tests.envs  # noqa: F401  (registers the tiny test environments)
from tests.helpers import scalars, the_run_dir

UPDATES = {
    "ddpg_continuous": ["update_critic", "update_actor", "polyak_update"],
    "sac_continuous": ["update_critic", "update_actor", "update_alpha", "polyak_update"],
    "dqn_discrete": ["update_q", "update_target"],
}
ACT = {"ddpg_continuous": "exploration_action", "dqn_discrete": "epsilon_greedy"}  # SAC acts with Actor.sample


class Recorder:
    """Runs a script's train() with every call of interest recorded, in order, as (name, arguments by name)."""

    def __init__(self, module, monkeypatch):
        self.module, self.events, self.saved, self.depth = module, [], {}, 0
        self.before = {}  # name -> a function called with the arguments before the call is made
        for name in UPDATES[module.__name__]:
            self.spy(monkeypatch, module, name, update=True)
        if module.__name__ in ACT:
            self.spy(monkeypatch, module, ACT[module.__name__])
        else:  # SAC: a sample drawn outside every update function is the action the agent takes
            real_sample = module.Actor.sample

            def sample(actor, obs):
                out = real_sample(actor, obs)
                if self.depth == 0:
                    self.events.append(("act", {"actor": actor, "obs": obs.clone(), "result": out[0].clone()}))
                return out

            monkeypatch.setattr(module.Actor, "sample", sample)
        self.spy(monkeypatch, module, "evaluate")
        real_step, real_add = gym.vector.SyncVectorEnv.step, module.ReplayBuffer.add

        def step(envs, actions):
            result = real_step(envs, actions)
            self.events.append(("step", {"actions": np.array(actions, copy=True), "obs": result[0].copy()}))
            return result

        def add(rb, obs, actions, rewards, next_obs, terminated):
            self.events.append(("store", {"obs": obs.copy(), "actions": np.array(actions, copy=True)}))
            return real_add(rb, obs, actions, rewards, next_obs, terminated)

        monkeypatch.setattr(gym.vector.SyncVectorEnv, "step", step)
        monkeypatch.setattr(module.ReplayBuffer, "add", add)

        recorder, real_run = self, module.Run

        class RecordedRun(real_run):  # the networks and optimizers train() builds, by the names it saves them under
            def __init__(self, args, saved, *rest, **kwargs):
                recorder.saved = saved
                super().__init__(args, saved, *rest, **kwargs)

            def start(self, envs, obs, *rest):
                recorder.first_obs = obs.copy()  # the observation the loop starts from
                super().start(envs, obs, *rest)

        monkeypatch.setattr(module, "Run", RecordedRun)

    def spy(self, monkeypatch, module, name, update=False):
        real = getattr(module, name)
        signature = inspect.signature(real)

        def wrapper(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            if name in self.before:
                self.before[name](arguments)
            for key in ("obs", "batch"):  # copies: the loop may reuse the arrays
                if isinstance(arguments.get(key), np.ndarray):
                    arguments[key] = arguments[key].copy()
            self.events.append((name, arguments))
            self.depth += update
            try:
                result = real(*args, **kwargs)
            finally:
                self.depth -= update
            arguments["result"] = result
            return result

        monkeypatch.setattr(module, name, wrapper)

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def calls(self, name: str) -> list[dict]:
        return [arguments for event, arguments in self.events if event == name]


def same_tensors(listed, module: torch.nn.Module) -> bool:
    """True if `listed` is a module or a list of tensors holding exactly `module`'s parameters, by identity."""
    tensors = list(listed.parameters()) if isinstance(listed, torch.nn.Module) else list(listed)
    return len(tensors) == len(list(module.parameters())) and all(a is b for a, b in zip(tensors, module.parameters()))


def run(module_name: str, monkeypatch, tmp_path, recorder: Recorder | None = None, **overrides) -> tuple:
    """train() on a tiny env, recorded; learning from step 20, no evaluation but the final one."""
    module = importlib.import_module(module_name)
    recorder = recorder or Recorder(module, monkeypatch)
    env_id = "tests.envs:Choice-v0" if module_name == "dqn_discrete" else "tests.envs:Countdown-v0"
    settings = dict(
        env_id=env_id,
        runs_dir=str(tmp_path / "runs"),
        total_timesteps=60,
        learning_starts=20,
        batch_size=8,
        hidden_sizes=(16,),
        eval_frequency=0,
        eval_episodes=1,
        log_frequency=10,
        checkpoint_frequency=0,
    )
    args = module.Args(**{**settings, **overrides})
    module.train(args)
    return module, recorder, args


# ---- DDPG ------------------------------------------------------------------------------------------------------


def test_ddpg_loop_acts_steps_stores_then_learns_on_its_schedule(monkeypatch, tmp_path):
    _, recorder, args = run("ddpg_continuous", monkeypatch, tmp_path, policy_frequency=3)
    expected, critic_steps = [], 0
    for global_step in range(1, 61):  # the step number once this vector step is taken
        if global_step - 1 >= 20:  # uniform random actions before learning_starts, the actor's after
            expected.append("exploration_action")
        expected += ["step", "store"]
        if global_step >= 20:
            expected.append("update_critic")
            critic_steps += 1
            if critic_steps % 3 == 0:  # the actor and both targets once every policy_frequency critic steps
                expected += ["update_actor", "polyak_update", "polyak_update"]
    assert recorder.names() == expected + ["evaluate"]


def test_ddpg_updates_get_the_networks_the_equations_name(monkeypatch, tmp_path):
    _, recorder, args = run("ddpg_continuous", monkeypatch, tmp_path, policy_frequency=2, tau=0.3, gamma=0.7)
    s = recorder.saved
    critic_calls = recorder.calls("update_critic")
    assert len(critic_calls) == 41
    for call in critic_calls:  # y = r + gamma (1 - d) Q'(s', mu'(s')): both targets, and the online critic learns
        assert call["critic"] is s["critic"] and call["critic_optimizer"] is s["critic_optimizer"]
        assert call["target_actor"] is s["target_actor"], "the TD target must use the target actor mu'"
        assert call["target_critic"] is s["target_critic"], "the TD target must use the target critic Q'"
        assert call["gamma"] == 0.7
    actor_calls = recorder.calls("update_actor")
    assert len(actor_calls) == 20
    for call in actor_calls:  # J = -mean Q(s, mu(s)): the online critic, on the states of the critic's batch
        assert call["actor"] is s["actor"] and call["actor_optimizer"] is s["actor_optimizer"]
        assert call["critic"] is s["critic"], "the actor climbs the online critic, not its target"
    learned = [(name, a) for name, a in recorder.events if name in ("update_critic", "update_actor")]
    for (first, critic_call), (second, actor_call) in zip(learned, learned[1:]):
        if second == "update_actor":
            assert first == "update_critic" and torch.equal(actor_call["obs"], critic_call["batch"][0])
    polyak = recorder.calls("polyak_update")
    assert len(polyak) == 40
    pairs = {(id(c["target"]), id(c["online"])) for c in polyak}  # target first, online second
    assert pairs == {(id(s["target_actor"]), id(s["actor"])), (id(s["target_critic"]), id(s["critic"]))}
    assert all(c["tau"] == 0.3 for c in polyak)


def test_ddpg_explores_with_its_noise_around_the_actor_and_evaluates_the_actor(monkeypatch, tmp_path):
    _, recorder, args = run("ddpg_continuous", monkeypatch, tmp_path, exploration_noise=0.25)
    s, steps = recorder.saved, recorder.calls("step")
    acts = recorder.calls("exploration_action")
    assert len(acts) == 40 and all(a["actor"] is s["actor"] and a["noise_std"] == 0.25 for a in acts)
    # the action the env gets is the noisy one exploration_action returned, at the observation the env last gave
    for act, step, previous in zip(acts, steps[20:], steps[19:]):
        assert np.array_equal(step["actions"], act["result"].numpy())
        assert np.array_equal(act["obs"].numpy(), previous["obs"])
    warm_up = np.concatenate([step["actions"] for step in steps[:20]])
    assert warm_up.min() >= -1 and warm_up.max() <= 1 and warm_up.std() > 0.3  # uniform over [-1, 1]
    stored = recorder.calls("store")
    for step, store, previous in zip(steps, stored, [{"obs": recorder.first_obs}] + steps):
        assert np.array_equal(store["actions"], step["actions"]) and np.array_equal(store["obs"], previous["obs"])
    (evaluation,) = recorder.calls("evaluate")
    assert evaluation["policy"] is s["actor"]  # mu(s), the online actor, without noise


# ---- SAC -------------------------------------------------------------------------------------------------------


def test_sac_loop_acts_steps_stores_then_learns_on_its_schedule(monkeypatch, tmp_path):
    _, recorder, args = run("sac_continuous", monkeypatch, tmp_path, policy_frequency=3)
    expected, critic_steps = [], 0
    for global_step in range(1, 61):
        if global_step - 1 >= 20:
            expected.append("act")
        expected += ["step", "store"]
        if global_step >= 20:
            expected += ["update_critic", "polyak_update"]  # the target critic follows every critic step
            critic_steps += 1
            if critic_steps % 3 == 0:  # as many policy (and temperature) steps as were skipped
                expected += ["update_actor", "update_alpha"] * 3
    assert recorder.names() == expected + ["evaluate"]


def test_sac_updates_get_the_networks_the_equations_name(monkeypatch, tmp_path):
    module, recorder, args = run("sac_continuous", monkeypatch, tmp_path, policy_frequency=2, tau=0.3, gamma=0.7)
    s = recorder.saved
    critic_calls = recorder.calls("update_critic")
    assert len(critic_calls) == 41
    for call in critic_calls:  # y = r + gamma (1 - d) (min Q'(s', a') - alpha log pi(a'|s')), a' from the policy
        assert call["critic"] is s["critic"] and call["critic_optimizer"] is s["critic_optimizer"]
        assert call["actor"] is s["actor"], "a' is drawn from the current policy"
        assert call["target_critic"] is s["target_critic"], "the TD target must use the target critics Q'"
        assert call["gamma"] == 0.7 and call["alpha"].shape == (1,)
    polyak = recorder.calls("polyak_update")
    assert len(polyak) == 41
    assert all(c["target"] is s["target_critic"] and c["online"] is s["critic"] and c["tau"] == 0.3 for c in polyak)
    actor_calls, alpha_calls = recorder.calls("update_actor"), recorder.calls("update_alpha")
    assert len(actor_calls) == len(alpha_calls) == 40
    for actor_call, alpha_call in zip(actor_calls, alpha_calls):
        assert actor_call["actor"] is s["actor"] and actor_call["actor_optimizer"] is s["actor_optimizer"]
        assert actor_call["critic"] is s["critic"], "the policy climbs the online critics, not their targets"
        assert alpha_call["log_alpha"] is s["log_alpha"] and alpha_call["alpha_optimizer"] is s["alpha_optimizer"]
        assert alpha_call["log_prob"] is actor_call["result"][1]  # the entropy of the policy step just taken
        assert alpha_call["target_entropy"] == -2.0  # -dim(A) by default
    # the temperature the updates use is exp(log alpha) as it stands: each actor step after an alpha step sees it move
    alphas = [c["alpha"].item() for name, c in recorder.events if name in ("update_actor",)]
    assert len(set(alphas)) > 20
    (evaluation,) = recorder.calls("evaluate")
    assert evaluation["policy"] is s["actor"]
    acts = recorder.calls("act")
    assert len(acts) == 40 and all(a["actor"] is s["actor"] for a in acts)
    for act, step in zip(acts, recorder.calls("step")[20:]):
        assert np.array_equal(step["actions"], act["result"].numpy())


# ---- DQN -------------------------------------------------------------------------------------------------------

DQN_SCHEDULE = dict(
    total_timesteps=120,
    train_frequency=4,
    gradient_steps=2,
    target_network_frequency=10,
    tau=1.0,
    start_e=1.0,
    end_e=0.0,
    exploration_fraction=0.5,
)


def dqn_events(recorder) -> list[str]:
    """The event names, each update_target named by the network it writes: the target Q', or another."""
    s, names = recorder.saved, []
    for name, arguments in recorder.events:
        if name == "update_target":
            name += ":target" if same_tensors(arguments["target"], s["target_network"]) else ":other"
        names.append(name)
    return names


def test_dqn_loop_acts_steps_stores_then_learns_on_its_schedule(monkeypatch, tmp_path):
    _, recorder, args = run("dqn_discrete", monkeypatch, tmp_path, **DQN_SCHEDULE)
    expected = []
    for global_step in range(1, 121):
        expected += ["epsilon_greedy", "step", "store"]
        if global_step >= 20:
            if global_step % 4 == 0:  # gradient_steps updates every train_frequency steps
                expected += ["update_q"] * 2
            if global_step % 10 == 0:  # the target network on its own schedule
                expected.append("update_target:target")
    assert dqn_events(recorder) == expected + ["evaluate"]
    (evaluation,) = recorder.calls("evaluate")
    assert evaluation["policy"] is recorder.saved["q_network"]  # Q itself, epsilon-greedy with --eval-epsilon


def test_dqn_updates_get_the_networks_the_equations_name(monkeypatch, tmp_path):
    _, recorder, args = run(
        "dqn_discrete",
        monkeypatch,
        tmp_path,
        **DQN_SCHEDULE,
        gamma=0.7,
        double_dqn=True,
        loss="huber",
    )
    s = recorder.saved
    q_calls = recorder.calls("update_q")
    assert len(q_calls) == 2 * (120 // 4 - 19 // 4)
    for call in q_calls:  # y = r + gamma (1 - d) max Q'(s', .): the target network; the online one learns
        assert call["q_network"] is s["q_network"] and call["optimizer"] is s["optimizer"]
        assert call["target_network"] is s["target_network"], "the TD target must use the target network Q'"
        assert call["gamma"] == 0.7 and call["double_dqn"] is True and call["loss_kind"] == "huber"
    to_target = [c for c in recorder.calls("update_target") if same_tensors(c["target"], s["target_network"])]
    assert len(to_target) == 11  # steps 20, 30, ..., 120
    assert all(same_tensors(c["online"], s["q_network"]) and c["tau"] == 1.0 for c in to_target)  # Q' <- Q


def test_dqn_acts_with_the_scheduled_epsilon_on_the_online_network_and_logs_it(monkeypatch, tmp_path):
    module = importlib.import_module("dqn_discrete")
    recorder, forced = Recorder(module, monkeypatch), []

    def force(arguments):  # before each greedy step: make the online Q's greedy action a chosen one, 0, 1, 2, 0, ...
        if arguments["epsilon"] == 0:
            last = recorder.saved["q_network"].net[-1]
            with torch.no_grad():  # in place, as an optimizer step changes the weights
                last.weight.zero_()
                last.bias.copy_(torch.eye(3)[len(forced) % 3])
            forced.append(len(forced) % 3)

    recorder.before["epsilon_greedy"] = force
    run("dqn_discrete", monkeypatch, tmp_path, recorder, **DQN_SCHEDULE)
    s, acts = recorder.saved, recorder.calls("epsilon_greedy")
    assert len(acts) == 120
    epsilons = [a["epsilon"] for a in acts]
    # from 1 to 0 over half of the 120 steps: step t acts with max(0, 1 - t / 60)
    assert epsilons[0] == 1.0 and epsilons[30] == pytest.approx(0.5) and epsilons[45] == pytest.approx(0.25)
    assert epsilons == pytest.approx([max(0.0, 1 - t / 60) for t in range(120)])
    assert all(a["q_network"] is s["q_network"] for a in acts)
    # epsilon 0 from step 60: the env gets the online network's greedy action as the network stands at that step
    assert [int(step["actions"][0]) for step in recorder.calls("step")[60:]] == forced == [t % 3 for t in range(60)]
    logged = scalars(the_run_dir(tmp_path / "runs"))["charts/epsilon"]
    assert [step for step, _ in logged] == list(range(10, 121, 10))
    for step, value in logged:  # the epsilon of the vector step that ended there
        assert value == pytest.approx(epsilons[step - 1])


@pytest.mark.parametrize("anneal_lr", [True, False])
def test_dqn_anneals_the_learning_rate_to_0_over_the_run(anneal_lr, monkeypatch, tmp_path):
    module = importlib.import_module("dqn_discrete")
    recorder, rates = Recorder(module, monkeypatch), []
    recorder.before["update_q"] = lambda arguments: rates.append(arguments["optimizer"].param_groups[0]["lr"])
    schedule = {**DQN_SCHEDULE, "learning_rate": 0.4, "anneal_lr": anneal_lr}
    run("dqn_discrete", monkeypatch, tmp_path, recorder=recorder, **schedule)
    # bursts of 2 gradient steps at steps 20, 24, ..., 120: lr = 0.4 (1 - step / 120), the same for both steps
    steps = range(20, 121, 4)
    expected = [0.4 * (1 - step / 120) if anneal_lr else 0.4 for step in steps for _ in range(2)]
    assert rates == pytest.approx(expected)
