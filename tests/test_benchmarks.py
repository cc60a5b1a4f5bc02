"""benchmarks/cleanrl_style.py: the stand-in loops that benchmarks/breakdown.py times beside ours run to the end;
breakdown.py's bound at the floor, on hand-made timings."""

import sys

import numpy as np
import pytest
import torch

from tests.helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import breakdown  # noqa: E402
import cleanrl_style  # noqa: E402


@pytest.mark.parametrize("algo,env_id", [("ddpg", "Pendulum-v1"), ("sac", "Pendulum-v1"), ("dqn", "CartPole-v1")])
def test_stand_in_loop_trains_and_reports_steps_per_second(algo, env_id, monkeypatch):
    steps = []
    original_step = torch.optim.Adam.step

    def counted_step(self, *args, **kwargs):
        steps.append(1)
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", counted_step)
    flags = dict(batch_size=32, total_timesteps=200) if algo == "dqn" else dict(batch_size=32)
    training, whole_run = getattr(cleanrl_style, algo)(env_id, learning_starts=100, steps=100, **flags)
    assert training > 0 and whole_run > 0
    # gradient steps after learning_starts: DQN one per 10 env steps; DDPG a critic step per env step and an
    # actor step per 2; SAC per 2 env steps two critic steps, two actor and two alpha steps
    expected = {"dqn": 9, "ddpg": 99 + 49, "sac": 99 + 2 * 2 * 49}[algo]
    assert len(steps) == expected


def test_stand_in_records_the_return_of_each_finished_episode():
    envs = cleanrl_style.make_envs("CartPole-v1", seed=0)
    envs.reset(seed=0)
    returns, steps, terminated = [], 0, [False]
    while not terminated[0] and steps < 200:  # always pushing left ends an episode within a few dozen steps
        _, _, terminated, _, infos = envs.step(np.zeros(1, dtype=np.int64))
        cleanrl_style.log_episodes(infos, returns)
        steps += 1
    assert terminated[0]
    assert returns == [float(steps)]  # CartPole pays 1 per step, the last one included


def test_phase_clock_rates_count_the_training_phase_and_the_whole_run(monkeypatch):
    times = iter([10.0, 12.0, 16.0])  # made (loop start), learning_starts reached, rates read
    monkeypatch.setattr(cleanrl_style.time, "perf_counter", lambda: next(times))
    clock = cleanrl_style.PhaseClock(learning_starts=100, steps=400)
    for global_step in range(500):
        clock.tick(global_step)
    # training: 400 steps in 16 - 12 = 4 s; whole run: 500 steps in 16 - 10 = 6 s
    assert clock.rates() == pytest.approx((100.0, 500 / 6))


def test_steps_per_second_at_the_floor_replace_the_update_by_its_floor():
    # a run of 1000 warm-up and 4000 training steps: 2.5 ms per training step (400/s, 10 s), 2.0 of it update;
    # the whole run took 5000 / 416.66.. = 12 s, so the warm-up took 2 s
    timing = {"steps_per_s": 400.0, "whole_run": 5000 / 12,
              "ms_per_step": {"env step": 0.3, "update": 2.0, "other": 0.2}}
    # at a floor of 1.1 ms a training step takes 0.3 + 1.1 + 0.2 = 1.6 ms: 625 steps/s
    assert breakdown.steps_per_s_at_floor(timing, 1.1, "training", 1000, 4000) == pytest.approx(625.0)
    # the whole run: 2 s of warm-up, then 4000 x 1.6 ms = 6.4 s: 5000 steps in 8.4 s
    assert breakdown.steps_per_s_at_floor(timing, 1.1, "whole run", 1000, 4000) == pytest.approx(5000 / 8.4)
