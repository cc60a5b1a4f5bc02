"""Where a training step's time goes in our scripts, and how close the update runs to its floor.

    python benchmarks/breakdown.py                 # all three, at CleanRL's settings
    python benchmarks/breakdown.py --algos ddpg --runs 1

Part 1 runs each script's own `train()` in this process for a short training phase, with timers wrapped
around the functions it calls: the vector env's step, action selection, the replay buffer, the update
functions and TensorBoard logging. Everything else in the loop (tensor conversion, bookkeeping, the
progress line) is "other". Evaluation and checkpoints are switched off until the end and not counted.
The median of `--runs` runs is reported. CleanRL itself is measured beside ours by benchmarks/speed.py.

Part 2 computes the update's floor on this machine. It records every matrix multiply of one update cycle
(shapes from the profiler), times each shape alone on contiguous tensors with the same thread count, and
sums: the floor is the update's floating-point work divided by the throughput measured for its own
shapes. The update's time is then reported as a multiple of that floor.
"""

import argparse
import copy
import dataclasses
import functools
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import tyro
from torch.profiler import ProfilerActivity, profile
from torch.utils.tensorboard import SummaryWriter

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import settings  # noqa: E402  benchmarks/settings.py: CleanRL's settings as our flags

import ddpg_continuous  # noqa: E402
import dqn_discrete  # noqa: E402
import sac_continuous  # noqa: E402

# The training phase we time, at CleanRL's settings (settings.py, as speed.py runs both sides): learning_starts,
# then this many steps.
SETTINGS = {
    "ddpg": dict(module=ddpg_continuous, env_id="Pendulum-v1", learning_starts=5_000, steps=3_000),
    "sac": dict(module=sac_continuous, env_id="Pendulum-v1", learning_starts=5_000, steps=2_000),
    "dqn": dict(module=dqn_discrete, env_id="CartPole-v1", learning_starts=10_000, steps=40_000),
}


def cleanrl_args(algo: str, **changes):
    """The script's Args as its command line gives them at CleanRL's settings, with `changes` made."""
    s = SETTINGS[algo]
    args = tyro.cli(s["module"].Args, args=settings.flags(algo) + ["--env-id", s["env_id"]])
    return dataclasses.replace(args, **changes)


# CleanRL's training-phase steps/s at these settings on a 2-core CPU like this one (measured from its
# event files on 2026-11-25), for a run of this file alone; benchmarks/speed.py passes the figures of its own run.
CLEANRL_TRAINING = {"ddpg": 330, "sac": 124, "dqn": 7445}


# The functions each phase is made of: (owner, attribute name). A call nested in another timed call counts
# for the outer one only (the actor's forward inside an update is update time, not action selection).
def phases(module) -> dict[str, list[tuple[object, str]]]:
    update_names = ["update_critic", "update_actor", "update_alpha", "polyak_update", "update_q", "update_target"]
    if module is sac_continuous:
        acting = [(module.Actor, "sample")]  # called inline in the loop; inside an update it counts as update
    else:
        acting = [(module, "exploration_action" if module is ddpg_continuous else "epsilon_greedy")]
    return {
        "env step": [(gym.vector.SyncVectorEnv, "step")],
        "action selection": acting,
        "replay buffer": [(module.ReplayBuffer, "add"), (module.ReplayBuffer, "sample")],
        "update": [(module, name) for name in update_names if hasattr(module, name)],
        "logging": [(SummaryWriter, "add_scalar")],
    }


class Clock:
    """Sums the time spent in wrapped functions per phase, from the first update to the final evaluation."""

    def __init__(self):
        self.totals = defaultdict(float)
        self.depth = 0
        self.loop_start = self.start = self.end = None
        self.restore = []

    def wrap(self, owner, name: str, phase: str) -> None:
        original = getattr(owner, name)
        clock = self

        @functools.wraps(original)
        def timed(*args, **kwargs):
            if clock.depth:
                return original(*args, **kwargs)
            if phase == "update" and clock.start is None:
                clock.start = time.perf_counter()  # the training phase begins with the first update
            clock.depth += 1
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                clock.depth -= 1
                if clock.start is not None and clock.end is None:
                    clock.totals[phase] += time.perf_counter() - t0

        setattr(owner, name, timed)
        self.restore.append((owner, name, original))

    def mark_loop_start(self) -> None:
        """Note when the training loop resets its envs: where CleanRL starts the clock of the steps/s it prints."""
        original = gym.vector.SyncVectorEnv.reset
        clock = self

        @functools.wraps(original)
        def reset(*args, **kwargs):
            if clock.loop_start is None:
                clock.loop_start = time.perf_counter()
            return original(*args, **kwargs)

        gym.vector.SyncVectorEnv.reset = reset
        self.restore.append((gym.vector.SyncVectorEnv, "reset", original))

    def stop(self, *_args, **_kwargs):
        if self.end is None:
            self.end = time.perf_counter()

    def unwrap(self) -> None:
        for owner, name, original in reversed(self.restore):
            setattr(owner, name, original)


def time_phases(algo: str) -> dict:
    s = SETTINGS[algo]
    module = s["module"]
    clock = Clock()
    for phase, functions in phases(module).items():
        for owner, name in functions:
            clock.wrap(owner, name, phase)
    clock.mark_loop_start()
    original_evaluate = module.evaluate

    def evaluate_after_stop(*args, **kwargs):
        clock.stop()
        return original_evaluate(*args, **kwargs)

    module.evaluate = evaluate_after_stop
    try:
        with tempfile.TemporaryDirectory() as runs_dir:
            args = cleanrl_args(
                algo,
                runs_dir=runs_dir,
                total_timesteps=s["learning_starts"] + s["steps"],
                learning_starts=s["learning_starts"],
                eval_frequency=0,
                eval_episodes=1,
                checkpoint_frequency=0,
            )
            module.train(args)
    finally:
        module.evaluate = original_evaluate
        clock.unwrap()
    total = clock.end - clock.start
    measured = dict(clock.totals)
    measured["other"] = total - sum(measured.values())
    return {
        "steps_per_s": s["steps"] / total,
        "ms_per_step": {k: 1e3 * v / s["steps"] for k, v in measured.items()},
        "whole_run": (s["learning_starts"] + s["steps"]) / (clock.end - clock.loop_start),
    }


# ---------------------------------------------------------------------------------------------
# The floor
# ---------------------------------------------------------------------------------------------
def update_cycle(algo: str):
    """A function running the update work of `steps` env steps at SETTINGS' schedule, and that number of steps."""
    torch.manual_seed(0)
    a = cleanrl_args(algo)
    batch_size = a.batch_size
    if algo == "ddpg":
        m = ddpg_continuous
        actor = m.Actor(3, np.array([-2.0], np.float32), np.array([2.0], np.float32), a.hidden_sizes)
        critic = m.Critic(3, 1, a.hidden_sizes)
        target_actor, target_critic = copy.deepcopy(actor), copy.deepcopy(critic)
        actor_opt = torch.optim.Adam(actor.parameters(), lr=a.learning_rate, fused=True)
        critic_opt = torch.optim.Adam(critic.parameters(), lr=a.learning_rate, fused=True)
        batch = (
            torch.randn(batch_size, 3),
            torch.rand(batch_size, 1),
            torch.randn(batch_size),
            torch.randn(batch_size, 3),
            torch.zeros(batch_size),
        )

        def cycle():  # policy_frequency critic steps, then one actor step and one target update
            for _ in range(a.policy_frequency):
                m.update_critic(critic, critic_opt, target_actor, target_critic, batch, a.gamma)
            m.update_actor(actor, actor_opt, critic, batch[0])
            m.polyak_update(target_actor, actor, a.tau)
            m.polyak_update(target_critic, critic, a.tau)

        return cycle, a.policy_frequency
    if algo == "sac":
        m = sac_continuous
        actor = m.Actor(3, np.array([-2.0], np.float32), np.array([2.0], np.float32), a.hidden_sizes)
        critic = m.TwinCritic(3, 1, a.hidden_sizes)
        target_critic = copy.deepcopy(critic)
        log_alpha = torch.zeros(1, requires_grad=True)
        actor_opt = torch.optim.Adam(actor.parameters(), lr=a.policy_lr, fused=True)
        critic_opt = torch.optim.Adam(critic.parameters(), lr=a.q_lr, fused=True)
        alpha_opt = torch.optim.Adam([log_alpha], lr=a.q_lr, fused=True)
        batch = (
            torch.randn(batch_size, 3),
            torch.rand(batch_size, 1),
            torch.randn(batch_size),
            torch.randn(batch_size, 3),
            torch.zeros(batch_size),
        )

        def cycle():  # policy_frequency critic steps and target updates, then as many policy and alpha steps
            alpha = log_alpha.detach().exp()
            for _ in range(a.policy_frequency):
                m.update_critic(critic, critic_opt, actor, target_critic, batch, alpha, a.gamma)
                m.polyak_update(target_critic, critic, a.tau)
            for _ in range(a.policy_frequency):
                _, log_prob = m.update_actor(actor, actor_opt, critic, batch[0], alpha)
                m.update_alpha(log_alpha, alpha_opt, log_prob, -1.0)
                alpha = log_alpha.detach().exp()

        return cycle, a.policy_frequency
    m = dqn_discrete
    q_network = m.QNetwork(4, 2, a.hidden_sizes)
    target_network = copy.deepcopy(q_network)
    optimizer = torch.optim.Adam(q_network.parameters(), lr=a.learning_rate, fused=True)
    batch = (
        torch.randn(batch_size, 4),
        torch.randint(0, 2, (batch_size,)),
        torch.randn(batch_size),
        torch.randn(batch_size, 4),
        torch.zeros(batch_size),
    )

    def cycle():  # one update every 10 steps (the target copy every 500 steps: 2% of a cycle, left out)
        m.update_q(q_network, optimizer, target_network, batch, a.gamma, a.double_dqn, a.loss)

    return cycle, a.train_frequency


def median_time(fn, repeats: int = 7, number: int = 50) -> float:
    for _ in range(10):
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return statistics.median(samples)


def matmul_flops(name: str, shapes: list) -> float:
    """Floating-point operations of one mm / addmm / bmm / baddbmm call, from its input shapes."""
    a, b = (shapes[0], shapes[1]) if name in ("aten::mm", "aten::bmm") else (shapes[1], shapes[2])
    return 2.0 * float(np.prod(a)) * b[-1]


def matmul_alone(name: str, shapes: list):
    tensors = [torch.randn(*shape) for shape in shapes[:3] if shape]
    op = {"aten::mm": torch.mm, "aten::addmm": torch.addmm, "aten::bmm": torch.bmm, "aten::baddbmm": torch.baddbmm}[
        name
    ]
    return lambda: op(*tensors)


def floor(algo: str) -> dict:
    cycle, steps = update_cycle(algo)
    update_time = median_time(cycle) / steps
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        cycle()
    calls = defaultdict(int)
    for event in prof.events():
        if event.name in ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"):
            calls[(event.name, tuple(tuple(s) for s in event.input_shapes[:3]))] += 1
    floor_time, flops = 0.0, 0.0
    for (name, shapes), count in calls.items():
        floor_time += count * median_time(matmul_alone(name, [list(s) for s in shapes]), number=200)
        flops += count * matmul_flops(name, [list(s) for s in shapes])
    return {
        "update_ms": 1e3 * update_time,
        "floor_ms": 1e3 * floor_time / steps,
        "matmuls": sum(calls.values()),
        "gflops": flops / floor_time / 1e9,
        "ratio": update_time / (floor_time / steps),
    }


def thread_split(algo: str) -> dict[int, dict]:
    """The update and its matmul floor with one thread and with two: what the non-matmul rest (update - floor) owes
    to the fork and join of a second thread on tensors this small."""
    before, result = torch.get_num_threads(), {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            result[threads] = floor(algo)
    finally:
        torch.set_num_threads(before)
    return result


def steps_per_s_at_floor(timing: dict, floor_ms: float, measure: str, learning_starts: int, steps: int) -> float:
    """Steps/s a run of ours would reach were its update to cost exactly its floor, the rest of each step as timed.

    `timing` is one of time_phases' results; `measure` is "training" (the training phase) or "whole run" (warm-up
    included, its steps as timed: time_phases' two rates tell how long the warm-up took).
    """
    step_ms = sum(timing["ms_per_step"].values()) - timing["ms_per_step"].get("update", 0.0) + floor_ms
    if measure == "training":
        return 1e3 / step_ms
    warm_up_s = (learning_starts + steps) / timing["whole_run"] - steps / timing["steps_per_s"]
    return (learning_starts + steps) / (warm_up_s + steps * step_ms / 1e3)


def report(algos: list[str], runs: int = 3, cleanrl_sps: dict[str, float] | None = None) -> None:
    """Measure and print the tables for these algorithms, the median of `runs` runs each. `cleanrl_sps`: CleanRL's
    training-phase steps/s measured in the same session (benchmarks/speed.py); without it, those of 2026-11-25."""
    print(
        f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads; our step at CleanRL's settings, "
        f"{runs} runs each",
        flush=True,
    )
    rows = []
    for algo in algos:
        timings = []
        for _ in range(runs):
            timings.append(time_phases(algo))
            print(f"  {algo}: training phase {timings[-1]['steps_per_s']:.0f} steps/s", flush=True)
        timing = sorted(timings, key=lambda t: t["steps_per_s"])[len(timings) // 2]  # the median run, with its phases
        rows.append((algo, timing, floor(algo)))

    names = ["env step", "action selection", "replay buffer", "update", "logging", "other"]
    print("\nWhere a training step's time goes (ms per env step, share of the step):")
    print("| algo | steps/s | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for algo, timing, _ in rows:
        ms = timing["ms_per_step"]
        total = sum(ms.values())
        cells = " | ".join(f"{ms.get(n, 0.0):.3f} ({100 * ms.get(n, 0.0) / total:.0f}%)" for n in names)
        print(f"| {algo} | {timing['steps_per_s']:.0f} | {cells} |")
    source = "measured beside ours in this session" if cleanrl_sps else "measured on 2026-11-25, another day"
    print(
        "\nThe update against its floor (per env step; floor = matmul work / this machine's matmul throughput). "
        "At the floor: the training-phase steps/s of the median run above were its update to cost exactly the "
        f"floor, the rest of its steps unchanged; CleanRL: {source}:"
    )
    print(
        "| algo | update ms | floor ms | update / floor | matmuls per cycle | matmul GFLOP/s | steps/s at the floor | "
        "CleanRL steps/s | at the floor / CleanRL |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for algo, timing, f in rows:
        reference = (cleanrl_sps or CLEANRL_TRAINING)[algo]
        bound = steps_per_s_at_floor(
            timing, f["floor_ms"], "training", SETTINGS[algo]["learning_starts"], SETTINGS[algo]["steps"]
        )
        print(
            f"| {algo} | {f['update_ms']:.3f} | {f['floor_ms']:.3f} | {f['ratio']:.2f} | {f['matmuls']} | "
            f"{f['gflops']:.0f} | {bound:.0f} | {reference:.0f} | {bound / reference:.2f} |"
        )
    print("\nThe update's non-matmul rest (update - floor, ms per env step) with one torch thread and with two:")
    print("| algo | update, 1 thread | floor, 1 | rest, 1 | update, 2 threads | floor, 2 | rest, 2 | rest 2 / rest 1 |")
    print("|---|---|---|---|---|---|---|---|")
    for algo in algos:
        split = thread_split(algo)
        rest = {n: split[n]["update_ms"] - split[n]["floor_ms"] for n in (1, 2)}
        cells = [f"{split[n]['update_ms']:.3f} | {split[n]['floor_ms']:.3f} | {rest[n]:.3f}" for n in (1, 2)]
        print(f"| {algo} | {cells[0]} | {cells[1]} | {rest[2] / rest[1]:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=settings.HelpFormatter)
    parser.add_argument("--algos", nargs="+", default=list(SETTINGS), choices=list(SETTINGS), help="algorithms to time")
    parser.add_argument("--runs", type=int, default=3, help="runs of ours per algorithm; the median is reported")
    args = parser.parse_args()
    report(args.algos, args.runs)


if __name__ == "__main__":
    main()
