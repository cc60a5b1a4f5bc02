"""What a new user meets in the first hour: the settings an env gets, numbers as 1e4, --track without a login, the
thread count a run on a shared machine settles on, and a progress line that names a collapse."""

import importlib
import types

import pytest
import torch

from tests.helpers import assert_ok, load_checkpoint, run_main, the_run_dir

SCRIPTS = {"ddpg_continuous.py": "Pendulum-v1", "sac_continuous.py": "Pendulum-v1", "dqn_discrete.py": "CartPole-v1"}
TINY = ["--learning-starts", "100", "--batch-size", "16", "--hidden-sizes", "16", "--eval-episodes", "1",
        "--log-frequency", "100"]


def parsed(script: str, *argv: str, monkeypatch):
    module = importlib.import_module(script.removesuffix(".py"))
    monkeypatch.setattr("sys.argv", [script, *argv])
    return module.parse_args()[0]


@pytest.mark.parametrize("script,learning_starts", [("ddpg_continuous.py", 25_000), ("sac_continuous.py", 5_000)])
def test_a_mujoco_env_gets_cleanrls_settings_and_budget_and_flags_given_win(script, learning_starts, monkeypatch):
    args = parsed(script, "--env-id", "Hopper-v5", monkeypatch=monkeypatch)
    assert (args.total_timesteps, args.learning_starts, args.batch_size, args.tau) == (1_000_000, learning_starts, 256, 0.005)
    args = parsed(script, "--env-id", "Hopper-v5", "--batch-size", "64", "--total-timesteps", "5e4", monkeypatch=monkeypatch)
    assert (args.total_timesteps, args.learning_starts, args.batch_size) == (50_000, learning_starts, 64)
    default = parsed(script, monkeypatch=monkeypatch)
    assert (default.env_id, default.total_timesteps, default.batch_size) == ("Pendulum-v1", 12_000 if "ddpg" in script
                                                                             else 8_000, 128)


def test_dqn_presets_for_acrobot_and_mountaincar(monkeypatch):
    acrobot = parsed("dqn_discrete.py", "--env-id", "Acrobot-v1", monkeypatch=monkeypatch)
    assert (acrobot.total_timesteps, acrobot.learning_rate, acrobot.double_dqn, acrobot.train_frequency) == (
        100_000, 6.3e-4, True, 4)
    assert not parsed("dqn_discrete.py", "--env-id", "Acrobot-v1", "--no-double-dqn", monkeypatch=monkeypatch).double_dqn
    car = parsed("dqn_discrete.py", "--env-id", "MountainCar-v0", monkeypatch=monkeypatch)
    assert (car.total_timesteps, car.gamma, car.gradient_steps) == (120_000, 0.98, 8)


def test_a_run_prints_where_its_settings_come_from(tmp_path):
    ran = run_main("dqn_discrete.py", "--env-id", "Acrobot-v1", "--total-timesteps", "3e2", *TINY, runs_dir=tmp_path)
    assert_ok(ran)
    assert ("settings: rl-baselines3-zoo's schedule with double DQN (benchmarks/README.md, known-good runs): "
            "--total-timesteps 100000 --learning-rate 0.00063") in ran.stdout
    saved = load_checkpoint(the_run_dir(tmp_path))["args"]
    assert (saved["total_timesteps"], saved["batch_size"], saved["buffer_size"], saved["double_dqn"]) == (300, 16, 50_000, True)
    other = run_main("ddpg_continuous.py", "--env-id", "MountainCarContinuous-v0", "--total-timesteps", "300", *TINY,
                     runs_dir=tmp_path / "other")
    assert_ok(other)
    assert "settings: the defaults, tuned for Pendulum-v1; flags given win" in other.stdout


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_whole_numbers_written_as_1e4_or_with_underscores_are_integers(script, monkeypatch):
    args = parsed(script, "--total-timesteps", "1e4", "--buffer-size", "2.5e5", "--batch-size", "1_00",
                  "--log-frequency", "1E3", monkeypatch=monkeypatch)
    assert (args.total_timesteps, args.buffer_size, args.batch_size, args.log_frequency) == (10_000, 250_000, 100, 1000)
    assert parsed(script, "--gamma", "9.9e-1", "--tau", "1e0", monkeypatch=monkeypatch).gamma == 0.99
    assert parsed(script, "--exp-name", "1e4", monkeypatch=monkeypatch).exp_name == "1e4"  # a string stays one


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_track_without_a_wandb_login_is_one_line_and_leaves_no_folder(script, tmp_path, monkeypatch):
    for name in ["WANDB_API_KEY", "WANDB_MODE", "NETRC"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.netrc, no W&B settings
    ran = run_main(script, "--track", "--total-timesteps", "300", *TINY, runs_dir=tmp_path / "runs")
    assert ran.returncode == 2 and ran.stdout == ""
    assert ran.stderr == ("error: --track needs a W&B login: run `wandb login` (or set WANDB_API_KEY), or log offline "
                          "with WANDB_MODE=offline and upload later with `wandb sync`\n")
    assert not (tmp_path / "runs").exists()


class Clock:
    """time.perf_counter for choose_threads: each loop step takes the seconds the thread count in use is given."""

    def __init__(self, seconds_per_step: dict):
        self.now, self.seconds_per_step, self.threads, self.set_to = 0.0, seconds_per_step, 1, []

    def perf_counter(self) -> float:
        return self.now

    def set_num_threads(self, n: int) -> None:
        self.threads = n
        self.set_to.append(n)


def steps(module, run, clock, count: int) -> None:
    """`count` loop steps, each taking the seconds the clock gives the thread count in use."""
    for _ in range(count):
        clock.now = run.loop_start + clock.seconds_per_step[clock.threads]
        module.Run.choose_threads(run)
        run.loop_start = clock.now + 5.0  # an evaluation between two steps: left out of the loop's time


def chooser(script: str, monkeypatch, seconds_per_step: dict):
    module = importlib.import_module(script.removesuffix(".py"))
    clock = Clock(seconds_per_step)
    monkeypatch.setattr(module, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    monkeypatch.setattr(module.torch, "get_num_threads", lambda: clock.threads)
    monkeypatch.setattr(module.torch, "set_num_threads", clock.set_num_threads)
    run = types.SimpleNamespace(loop_seconds=0.0, window_steps=0, windows=0, loop_start=0.0, step_seconds={},
                                thread_choices={1, 2})
    return module, run, clock


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_threads_0_keeps_the_faster_count_and_times_the_other_every_32nd_window(script, monkeypatch):
    module, run, clock = chooser(script, monkeypatch, {2: 0.002, 1: 0.004})  # alone: a thread per core is faster
    steps(module, run, clock, 64 * 250)
    # window 1 on 1 thread (as a run starts), window 2 on 2; 2 is faster and kept; every 32nd window goes to 1
    assert clock.set_to == [2] + [2] * 30 + [1] + [2] * 31 + [1]
    assert run.step_seconds == {2: pytest.approx(0.002), 1: pytest.approx(0.004)}
    clock.seconds_per_step = {2: 0.020, 1: 0.004}  # other work starts: a thread per core collapses
    steps(module, run, clock, 3 * 250)
    assert clock.set_to[-3:] == [2, 1, 1]  # the window on 2 ends after 51 steps, twice the time 1 thread took
    assert run.step_seconds[2] == pytest.approx(0.020)
    clock.seconds_per_step = {2: 0.002, 1: 0.004}  # the other work ends: the next timing of 2 threads wins it back
    steps(module, run, clock, 32 * 250)
    assert clock.set_to[-5:] == [1, 2, 2, 2, 2] and clock.threads == 2  # from window 96 on


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_threads_0_on_a_busy_machine_spends_little_on_a_thread_per_core(script, monkeypatch):
    module, run, clock = chooser(script, monkeypatch, {2: 0.040, 1: 0.004})  # beside a busy process: 10x slower
    steps(module, run, clock, 250 + 51)
    assert clock.set_to == [2, 1] and run.step_seconds == {1: pytest.approx(0.004), 2: pytest.approx(0.040)}
    assert run.windows == 2  # the window on 2 threads ended after 51 steps (2.04 s), not 250 (10 s)


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_the_thread_count_changes_a_runs_speed_not_its_numbers(script, tmp_path):
    """--threads 0 may switch between 1 and 2 threads at any window, so a run's numbers must not depend on them."""
    states = []
    for threads in ["1", "2"]:
        args = ["--total-timesteps", "400", "--learning-starts", "100", "--eval-episodes", "1", "--threads", threads]
        assert_ok(run_main(script, *args, runs_dir=tmp_path / threads))
        states.append(load_checkpoint(the_run_dir(tmp_path / threads)))
    weights = [name for name, value in states[0].items() if isinstance(value, dict) and value
               and all(isinstance(tensor, torch.Tensor) for tensor in value.values())]  # the networks' state dicts
    assert len(weights) >= 2 and states[0]["num_updates"] >= 128
    for name in weights:
        for key, tensor in states[0][name].items():
            assert torch.equal(tensor, states[1][name][key]), (name, key)
