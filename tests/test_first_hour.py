"""What a new user meets in the first hour: the settings an env gets, numbers as 1e4, --track without a login, the
thread count a run uses (fresh and resumed), a budget too short to learn, and a fixed SAC temperature of 0."""

import importlib

import pytest
import torch

from tests.helpers import assert_ok, load_checkpoint, run_main, the_run_dir

SCRIPTS = {"ddpg_continuous.py": "Pendulum-v1", "sac_continuous.py": "Pendulum-v1", "dqn_discrete.py": "CartPole-v1"}
TINY = [
    "--learning-starts",
    "100",
    "--batch-size",
    "16",
    "--hidden-sizes",
    "16",
    "--eval-episodes",
    "1",
    "--log-frequency",
    "100",
]


def parsed(script: str, *argv: str, monkeypatch):
    module = importlib.import_module(script.removesuffix(".py"))
    monkeypatch.setattr("sys.argv", [script, *argv])
    return module.parse_args()[0]


@pytest.mark.parametrize("script,learning_starts", [("ddpg_continuous.py", 25_000), ("sac_continuous.py", 5_000)])
def test_a_mujoco_env_gets_cleanrls_settings_and_budget_and_flags_given_win(script, learning_starts, monkeypatch):
    args = parsed(script, "--env-id", "Hopper-v5", monkeypatch=monkeypatch)
    assert (args.total_timesteps, args.learning_starts, args.batch_size, args.tau) == (
        1_000_000,
        learning_starts,
        256,
        0.005,
    )
    args = parsed(
        script, "--env-id", "Hopper-v5", "--batch-size", "64", "--total-timesteps", "5e4", monkeypatch=monkeypatch
    )
    assert (args.total_timesteps, args.learning_starts, args.batch_size) == (50_000, learning_starts, 64)
    default = parsed(script, monkeypatch=monkeypatch)
    assert (default.env_id, default.total_timesteps, default.batch_size) == (
        "Pendulum-v1",
        12_000 if "ddpg" in script else 8_000,
        128,
    )


def test_dqn_presets_for_acrobot_and_mountaincar(monkeypatch):
    acrobot = parsed("dqn_discrete.py", "--env-id", "Acrobot-v1", monkeypatch=monkeypatch)
    assert (acrobot.total_timesteps, acrobot.learning_rate, acrobot.double_dqn, acrobot.train_frequency) == (
        100_000,
        6.3e-4,
        True,
        4,
    )
    assert not parsed(
        "dqn_discrete.py", "--env-id", "Acrobot-v1", "--no-double-dqn", monkeypatch=monkeypatch
    ).double_dqn
    car = parsed("dqn_discrete.py", "--env-id", "MountainCar-v0", monkeypatch=monkeypatch)
    assert (car.total_timesteps, car.gamma, car.gradient_steps) == (120_000, 0.98, 8)


def test_a_run_prints_where_its_settings_come_from(tmp_path):
    ran = run_main("dqn_discrete.py", "--env-id", "Acrobot-v1", "--total-timesteps", "3e2", *TINY, runs_dir=tmp_path)
    assert_ok(ran)
    assert (
        "settings: rl-baselines3-zoo's schedule with double DQN (benchmarks/README.md, known-good runs): "
        "--total-timesteps 100000 --learning-rate 0.00063"
    ) in ran.stdout
    saved = load_checkpoint(the_run_dir(tmp_path))["args"]
    assert (saved["total_timesteps"], saved["batch_size"], saved["buffer_size"], saved["double_dqn"]) == (
        300,
        16,
        50_000,
        True,
    )
    other = run_main(
        "ddpg_continuous.py",
        "--env-id",
        "MountainCarContinuous-v0",
        "--total-timesteps",
        "300",
        *TINY,
        runs_dir=tmp_path / "other",
    )
    assert_ok(other)
    assert "settings: the defaults, tuned for Pendulum-v1; flags given win" in other.stdout


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_whole_numbers_written_as_1e4_or_with_underscores_are_integers(script, monkeypatch):
    args = parsed(
        script,
        "--total-timesteps",
        "1e4",
        "--buffer-size",
        "2.5e5",
        "--batch-size",
        "1_00",
        "--log-frequency",
        "1E3",
        monkeypatch=monkeypatch,
    )
    assert (args.total_timesteps, args.buffer_size, args.batch_size, args.log_frequency) == (10_000, 250_000, 100, 1000)
    assert parsed(script, "--gamma", "9.9e-1", "--tau", "1e0", monkeypatch=monkeypatch).gamma == 0.99
    assert parsed(script, "--exp-name", "1e4", monkeypatch=monkeypatch).exp_name == "1e4"  # a string stays one


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_track_without_a_wandb_login_is_one_line_and_leaves_no_folder(script, tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="the optional extra: pip install -r requirements-track.txt")
    for name in ["WANDB_API_KEY", "WANDB_MODE", "NETRC"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.netrc, no W&B settings
    ran = run_main(script, "--track", "--total-timesteps", "300", *TINY, runs_dir=tmp_path / "runs")
    assert ran.returncode == 2 and ran.stdout == ""
    assert ran.stderr == (
        "error: --track needs a W&B login: run `wandb login` (or set WANDB_API_KEY), or log offline "
        "with WANDB_MODE=offline and upload later with `wandb sync`\n"
    )
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_the_thread_count_changes_a_runs_speed_not_its_numbers(script, tmp_path):
    """A run resumed on another machine, or with another --threads, must go on with the same numbers."""
    states = []
    for threads in ["1", "2"]:
        args = ["--total-timesteps", "400", "--learning-starts", "100", "--eval-episodes", "1", "--threads", threads]
        assert_ok(run_main(script, *args, runs_dir=tmp_path / threads))
        states.append(load_checkpoint(the_run_dir(tmp_path / threads)))
    weights = [
        name
        for name, value in states[0].items()
        if isinstance(value, dict) and value and all(isinstance(tensor, torch.Tensor) for tensor in value.values())
    ]  # the networks' state dicts
    assert len(weights) >= 2 and states[0]["num_updates"] >= 128
    for name in weights:
        for key, tensor in states[0][name].items():
            assert torch.equal(tensor, states[1][name][key]), (name, key)


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_a_run_uses_one_thread_unless_told_and_a_resume_takes_its_own_flag(script, tmp_path):
    """One torch thread by default; a resume never inherits the thread count of the command that started the run."""
    torch.set_num_threads(2)  # as torch's default on 2 cores: the run must set its own count, not keep this one
    first = run_main(script, "--total-timesteps", "200", "--threads", "2", *TINY, runs_dir=tmp_path)
    assert_ok(first)
    assert " with 2 torch threads; run folder " in first.stdout
    run_dir = the_run_dir(tmp_path)
    assert load_checkpoint(run_dir)["args"]["threads"] == 2
    resumed = run_main(script, "--resume", str(run_dir), "--total-timesteps", "300", runs_dir=tmp_path)
    assert_ok(resumed)
    assert " with 1 torch threads; run folder " in resumed.stdout
    torch.set_num_threads(1)


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_a_budget_that_ends_before_learning_starts_says_so_at_the_start(script, tmp_path):
    short = run_main(script, "--total-timesteps", "90", *TINY, runs_dir=tmp_path / "short")
    assert_ok(short)
    assert short.stdout.splitlines()[2] == (  # below the buffer's line and the run's first line
        "warning: the run ends at step 90, before learning starts (step 100): no update before its end; raise "
        "--total-timesteps or lower --learning-starts"
    )
    assert load_checkpoint(the_run_dir(tmp_path / "short"))["num_updates"] == 0
    at_start = run_main(script, "--total-timesteps", "100", *TINY, runs_dir=tmp_path / "at_start")
    assert "warning: the run ends at step 100, as learning starts (step 100)" in at_start.stdout
    often = ["--train-frequency", "4"] if script == "dqn_discrete.py" else []
    enough = run_main(script, "--total-timesteps", "200", *TINY, *often, runs_dir=tmp_path / "enough")
    assert_ok(enough)
    assert "warning" not in enough.stdout
    assert load_checkpoint(the_run_dir(tmp_path / "enough"))["num_updates"] > 0


def test_sac_with_a_fixed_temperature_of_0_trains_to_the_end(tmp_path):
    """log(0) = -inf is the fixed temperature's log, not a learned value: the NaN guard must not stop the run."""
    ran = run_main(
        "sac_continuous.py", "--no-autotune", "--alpha", "0", "--total-timesteps", "400", *TINY, runs_dir=tmp_path
    )
    assert_ok(ran)
    state = load_checkpoint(the_run_dir(tmp_path))
    assert state["global_step"] == 400 and state["num_updates"] >= 150
    assert torch.isneginf(state["log_alpha"]).all()
    assert all(torch.isfinite(w).all() for w in state["actor"].values())
