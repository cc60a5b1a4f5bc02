"""End-to-end tests through each script's command line: real runs, real files on disk."""

import importlib
import os
import re
import shutil
import signal

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.helpers import (
    assert_ok,
    load_checkpoint,
    run_main,
    run_script,
    scalars,
    start_script,
    the_run_dir,
    wandb_history,
)

# Small networks: these runs check what the loop does, not how well it learns.
QUICK = [
    "--total-timesteps",
    "600",
    "--learning-starts",
    "200",
    "--batch-size",
    "32",
    "--log-frequency",
    "100",
    "--hidden-sizes",
    "64",
    "64",
    "--eval-episodes",
    "1",
]

CONTINUOUS_SPACE_ERRORS = [
    ("CartPole-v1", "dqn_discrete.py"),
    ("tests.envs:Unbounded-v0", "unbounded action space"),
    ("tests.envs:DictObservation-v0", "Dict observation space"),
]

SCRIPTS = {
    "ddpg_continuous.py": {
        "env_id": "Pendulum-v1",
        "tags": [
            "charts/episodic_return",
            "charts/episodic_length",
            "charts/SPS",
            "losses/qf1_loss",
            "losses/actor_loss",
            "losses/qf1_values",
            "eval/episodic_return",
        ],
        "loss_tag": "losses/qf1_loss",
        "countdown_env": "tests.envs:AngleCountdown-v0",  # 12 action dimensions in [0, 2 pi]
        "buffer": lambda module, capacity: module.ReplayBuffer(capacity, 2, 12, torch.device("cpu")),
        "action_bounds": (0.0, np.float32(2 * np.pi)),
        "nan_env": "tests.envs:NaNReward-v0",
        "space_errors": CONTINUOUS_SPACE_ERRORS,
    },
    "sac_continuous.py": {
        "env_id": "Pendulum-v1",
        "tags": [
            "charts/episodic_return",
            "charts/episodic_length",
            "charts/SPS",
            "losses/qf1_loss",
            "losses/qf2_loss",
            "losses/qf1_values",
            "losses/qf2_values",
            "losses/qf_loss",
            "losses/actor_loss",
            "losses/alpha",
            "losses/alpha_loss",
            "losses/entropy",
            "eval/episodic_return",
        ],
        "loss_tag": "losses/qf_loss",
        "countdown_env": "tests.envs:AngleCountdown-v0",
        "buffer": lambda module, capacity: module.ReplayBuffer(capacity, 2, 12, torch.device("cpu")),
        "action_bounds": (0.0, np.float32(2 * np.pi)),
        "nan_env": "tests.envs:NaNReward-v0",
        "space_errors": CONTINUOUS_SPACE_ERRORS,
    },
    "dqn_discrete.py": {
        "env_id": "CartPole-v1",
        "tags": [
            "charts/episodic_return",
            "charts/episodic_length",
            "charts/SPS",
            "charts/epsilon",
            "losses/td_loss",
            "losses/q_values",
            "eval/episodic_return",
        ],
        "loss_tag": "losses/td_loss",
        "schedule": ["--train-frequency", "50", "--gradient-steps", "4"],  # 4 gradient steps every 50 env steps
        "countdown_env": "tests.envs:Choice-v0",  # Discrete(3)
        "buffer": lambda module, capacity: module.ReplayBuffer(capacity, 2, torch.device("cpu")),
        "action_bounds": (0, 2),
        "nan_env": "tests.envs:ChoiceNaN-v0",
        "space_errors": [
            ("Pendulum-v1", "use ddpg_continuous.py or sac_continuous.py"),
            ("tests.envs:DictChoice-v0", "Dict observation space"),
        ],
    },
}


def schedule(script: str) -> list[str]:
    """The learning schedule the command-line tests give: DDPG's and SAC's default, a short one for DQN."""
    return SCRIPTS[script].get("schedule", [])


def updates_in(script: str, first: int, last: int) -> int:
    """Gradient steps a one-env run at `schedule` takes in steps first to last (both included), once learning."""
    given = dict(zip(schedule(script)[::2], schedule(script)[1::2]))
    every, steps = int(given.get("--train-frequency", 1)), int(given.get("--gradient-steps", 1))
    return steps * (last // every - (first - 1) // every)


@pytest.fixture(scope="module", params=list(SCRIPTS))
def smoke(request, tmp_path_factory):
    """One short run per script that reaches gradient steps, logging, evaluation, checkpoints and video."""
    script = request.param
    runs_dir = tmp_path_factory.mktemp("smoke")
    quick = QUICK[:-1] + ["2"]  # two episodes per evaluation, of which --capture-video records the first
    proc = run_main(
        script,
        "--env-id",
        SCRIPTS[script]["env_id"],
        *quick,
        *schedule(script),
        "--eval-frequency",
        "300",
        "--checkpoint-frequency",
        "300",
        "--capture-video",
        "--save-buffer",
        "--threads",
        "1",
        runs_dir=runs_dir,
    )
    assert_ok(proc)
    return script, the_run_dir(runs_dir), proc


def test_run_logs_every_tag_the_lecture_asks_for(smoke):
    script, run_dir, _ = smoke
    logged = scalars(run_dir)
    for tag in SCRIPTS[script]["tags"]:
        assert tag in logged, f"{tag} missing from {sorted(logged)}"
    assert [step for step, _ in logged["eval/episodic_return"]] == [300, 600]
    loss = logged[SCRIPTS[script]["loss_tag"]]
    assert [step for step, _ in loss] == [200, 300, 400, 500, 600]  # logged every 100 steps once learning has begun
    assert all(np.isfinite(v) for _, v in loss)


def test_run_takes_gradient_steps_and_saves_a_loadable_checkpoint(smoke):
    script, run_dir, proc = smoke
    checkpoint = load_checkpoint(run_dir)
    assert checkpoint["global_step"] == 600
    assert checkpoint["num_updates"] == updates_in(script, 200, 600)  # learning from step 200
    assert checkpoint["args"]["env_id"] == SCRIPTS[smoke[0]]["env_id"]
    assert "final evaluation return" in proc.stdout


def test_run_records_one_video_per_evaluation_named_by_step(smoke):
    _, run_dir, proc = smoke
    videos = sorted((run_dir / "videos").glob("*.mp4"))
    assert [v.name for v in videos] == ["eval-step300-episode-0.mp4", "eval-step600-episode-0.mp4"]
    assert all(v.stat().st_size > 1000 for v in videos)
    assert "Overwriting existing videos" not in proc.stderr


def test_resume_continues_from_the_checkpoint_step(smoke, tmp_path):
    script, run_dir, _ = smoke
    resumed_dir = tmp_path / run_dir.name
    shutil.copytree(run_dir, resumed_dir)
    proc = run_main(
        script, "--resume", str(resumed_dir / "checkpoint.pt"), "--total-timesteps", "800", runs_dir=tmp_path
    )
    assert_ok(proc)
    assert "resumed" in proc.stdout and "at step 600" in proc.stdout
    checkpoint = load_checkpoint(resumed_dir)
    assert checkpoint["global_step"] == 800
    # the saved buffer let updates go on from the first step after the resume
    assert checkpoint["num_updates"] == updates_in(script, 200, 600) + updates_in(script, 601, 800)
    assert checkpoint["buffer"]["size"] == 800
    assert checkpoint["args"]["batch_size"] == 32  # saved settings kept unless given again
    eval_steps = [step for step, _ in scalars(resumed_dir)["eval/episodic_return"]]
    assert eval_steps[-1] == 800


def test_saved_model_evaluates_to_the_runs_own_final_evaluation(smoke, tmp_path):
    script, run_dir, _ = smoke
    proc = run_main(script, "--evaluate", str(run_dir / "checkpoint.pt"), "--eval-episodes", "2", runs_dir=tmp_path)
    assert_ok(proc)
    printed = re.search(r"checkpoint at step 600: return (-?\d+\.\d) \+- \d+\.\d over 2 episodes", proc.stdout)
    # the same policy on the same two episodes (seeded apart from training) as the run's evaluation at step 600
    ((final_step, final_return),) = [point for point in scalars(run_dir)["eval/episodic_return"] if point[0] == 600]
    assert float(printed.group(1)) == pytest.approx(final_return, abs=0.051)
    assert list(tmp_path.iterdir()) == []  # evaluating writes no run folder
    # the run's last line says over how many episodes, and how to evaluate over more: the run folder stands for
    # the checkpoint in it
    done = smoke[2].stdout.strip().splitlines()[-1]
    assert f"final evaluation return {final_return:.1f} over 2 episodes;" in done
    assert done.endswith(f"over more episodes: python {script} --evaluate {run_dir} --eval-episodes 50")
    folder = run_main(script, "--evaluate", str(run_dir), "--eval-episodes", "2", runs_dir=tmp_path)
    assert_ok(folder)
    assert printed.group(0) in folder.stdout


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_same_seed_gives_identical_results(script, tmp_path):
    results = []
    for name in ["first", "second"]:
        runs_dir = tmp_path / name
        args = ["--env-id", SCRIPTS[script]["env_id"], *QUICK, "--total-timesteps", "500", "--seed", "7"]
        assert_ok(run_main(script, *args, runs_dir=runs_dir))
        logged = scalars(the_run_dir(runs_dir))
        results.append({tag: values for tag, values in logged.items() if tag != "charts/SPS"})
    assert results[0][SCRIPTS[script]["loss_tag"]], "no loss was logged"
    assert results[0] == results[1]


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_no_stored_transition_crosses_an_episode_boundary(script, tmp_path):
    args = [
        "--env-id",
        SCRIPTS[script]["countdown_env"],
        "--num-envs",
        "2",
        "--save-buffer",
        "--total-timesteps",
        "80",
        "--learning-starts",
        "40",
        "--batch-size",
        "8",
        "--eval-episodes",
        "1",
    ]
    assert_ok(run_main(script, *args, runs_dir=tmp_path))
    state = load_checkpoint(the_run_dir(tmp_path))["buffer"]
    module = importlib.import_module(script.removesuffix(".py"))
    rb = SCRIPTS[script]["buffer"](module, 80)
    module.load_buffer_state(rb, state)
    obs, actions, _, next_obs, terminated = (x.numpy() for x in rb.fields)
    assert rb.size == 80
    assert (next_obs[:, 0] == obs[:, 0]).all(), "a transition joins two episodes"
    assert (next_obs[:, 1] == obs[:, 1] + 1).all(), "a transition skips or repeats a step"
    episode, t = next_obs[:, 0], next_obs[:, 1]
    ended = t == 3 + episode % 3
    assert ((terminated == 1) == (ended & (episode % 2 == 0))).all(), "terminated flag wrong"
    assert (ended & (episode % 2 == 1)).any(), "no truncated ending was stored"
    low, high = SCRIPTS[script]["action_bounds"]
    assert (actions >= low).all() and (actions <= high).all()


def bad_inputs():
    for script, config in SCRIPTS.items():
        yield script, ["--env-id", "NoSuchEnv-v9"], "unknown environment id 'NoSuchEnv-v9'"
        yield script, ["--batch-size", "512", "--buffer-size", "100"], "--batch-size 512 is larger than --buffer-size"
        yield script, ["--total-timesteps", "0"], "--total-timesteps must be at least 1"
        yield script, ["--num-envs", "-1"], "--num-envs must be at least 1"
        yield script, ["--resume", "no/such/checkpoint.pt"], "checkpoint 'no/such/checkpoint.pt' not found"
        yield script, ["--gamma", "nan"], "--gamma must be a finite number, got nan"
        yield script, ["--hidden-sizes", "64", "0"], "--hidden-sizes must be one or more layer widths of at least 1"
        learning_rate = "--q-lr" if script == "sac_continuous.py" else "--learning-rate"
        yield script, [learning_rate, "inf"], f"{learning_rate} must be a finite number, got inf"
        # 10^11 transitions (s, a, r, s', terminated) of 4-byte floats: 9 for Pendulum; 12 for CartPole, whose a is
        # an int64 index (8 bytes)
        row_floats = 12 if config["env_id"] == "CartPole-v1" else 9
        gib = 10**11 * row_floats * 4 / 2**30  # 3352.8 GiB or 4470.3 GiB
        # --device cpu: on a machine with a GPU, auto would pick cuda and the message would name it
        yield script, ["--device", "cpu", "--buffer-size", str(10**11)], f"needs {gib:.1f} GiB but only"
        yield script, ["--buffer-size", str(10**11)], "lower --buffer-size"
        if script == "dqn_discrete.py":
            yield script, ["--gradient-steps", "0"], "--gradient-steps must be at least 1, got 0"
        for env_id, message in config["space_errors"]:
            yield script, ["--env-id", env_id], message


@pytest.mark.parametrize("script,args,message", list(bad_inputs()))
def test_bad_input_gets_a_one_line_error(script, args, message, tmp_path):
    proc = run_main(script, *args, runs_dir=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert message in lines[0]


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_bad_input_in_a_real_process_is_one_line_and_exit_status_2(script, tmp_path):
    """The contract as a shell sees it: what the in-process cases above check, once per script from a real process."""
    proc = run_script(script, "--env-id", "NoSuchEnv-v9", runs_dir=tmp_path, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: unknown environment id 'NoSuchEnv-v9'") and proc.stderr.count("\n") == 1
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []  # no run folder for a run that never began


def signal_at_step(monkeypatch, signum: int, at: int) -> None:
    """Deliver `signum` to this process from inside the env's step number `at`, as Ctrl-C or kill would mid-run."""
    real_step, count = gym.vector.SyncVectorEnv.step, [0]

    def step(envs, actions):
        count[0] += 1
        if count[0] == at:
            os.kill(os.getpid(), signum)
        return real_step(envs, actions)

    monkeypatch.setattr(gym.vector.SyncVectorEnv, "step", step)


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_sigint_mid_run_writes_a_checkpoint_with_the_buffer_that_resumes(script, tmp_path, monkeypatch):
    args = [
        "--env-id",
        SCRIPTS[script]["env_id"],
        "--total-timesteps",
        "1000000",
        "--learning-starts",
        "100",
        "--batch-size",
        "32",
        "--log-frequency",
        "50",
        "--eval-frequency",
        "0",
        *schedule(script),
    ]
    signal_at_step(monkeypatch, signal.SIGINT, 230)
    proc = run_main(script, *args, runs_dir=tmp_path)
    monkeypatch.undo()
    assert proc.returncode == 128 + signal.SIGINT, proc.stderr
    assert "Traceback" not in proc.stderr
    run_dir = the_run_dir(tmp_path)
    path = run_dir / "checkpoint.pt"
    assert f"stopped by signal {int(signal.SIGINT)} at step 230; checkpoint written to {path}" in proc.stdout
    checkpoint = load_checkpoint(run_dir)
    assert checkpoint["global_step"] == 230 and checkpoint["buffer"]["size"] == 230  # the step ended, then the stop
    assert checkpoint["num_updates"] == updates_in(script, 100, 230)
    # the losses since the last log line were written at the stop, where there were any, and flushed
    flushed = [230] if updates_in(script, 201, 230) else []
    assert [s for s, _ in scalars(run_dir)[SCRIPTS[script]["loss_tag"]]] == [100, 150, 200, *flushed]
    resumed = run_main(
        script,
        "--resume",
        str(run_dir / "checkpoint.pt"),
        "--total-timesteps",
        "280",
        "--eval-episodes",
        "1",
        runs_dir=tmp_path,
    )
    assert_ok(resumed)
    after = load_checkpoint(run_dir)
    assert after["global_step"] == 280 and after["num_updates"] == updates_in(
        script, 100, 280
    )  # no refill: buffer kept


@pytest.mark.slow
@pytest.mark.parametrize("script", list(SCRIPTS))
def test_sigint_to_a_real_process_exits_130_with_a_checkpoint(script, tmp_path):
    args = [
        "--env-id",
        SCRIPTS[script]["env_id"],
        "--total-timesteps",
        "1000000",
        "--learning-starts",
        "100",
        "--batch-size",
        "32",
        "--log-frequency",
        "50",
        "--eval-frequency",
        "0",
        *schedule(script),
    ]
    proc = start_script(script, *args, runs_dir=tmp_path)
    for line in proc.stdout:  # wait until gradient steps are under way
        match = re.match(r"step\s+(\d+)/", line)
        if match and int(match.group(1)) >= 200:
            break
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, stderr
    assert "Traceback" not in stderr and "stopped by signal" in stdout
    run_dir = the_run_dir(tmp_path)
    checkpoint = load_checkpoint(run_dir)
    assert checkpoint["global_step"] >= 200 and checkpoint["buffer"]["size"] == checkpoint["global_step"]
    assert SCRIPTS[script]["loss_tag"] in scalars(run_dir)  # logs were flushed


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_nan_loss_stops_with_a_checkpoint_from_before(script, tmp_path):
    # The env's rewards turn NaN at step 151; the last log, with everything finite, was at step 150.
    args = [
        "--env-id",
        SCRIPTS[script]["nan_env"],
        "--total-timesteps",
        "1000",
        "--learning-starts",
        "50",
        "--batch-size",
        "16",
        "--log-frequency",
        "50",
        "--eval-frequency",
        "0",
    ]
    proc = run_main(script, *args, runs_dir=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    # named as what it is, caught before it reaches the replay buffer
    assert "error: the env's reward became NaN or inf between steps 150 and 151" in proc.stderr
    assert "check the env: its rewards and observations must be finite" in proc.stderr
    checkpoint = load_checkpoint(the_run_dir(tmp_path))
    assert checkpoint["global_step"] == 150
    for name, value in checkpoint["critic" if "critic" in checkpoint else "q_network"].items():
        assert np.isfinite(value.numpy()).all(), name


# What CleanRL's script of the same algorithm logs (vwxyzjn/cleanrl at fe8d8a03, read off its add_scalar calls;
# it writes eval/episodic_return only with --save-model). Ours writes each under the same name, same meaning.
CLEANRL_TAGS = {
    "ddpg_continuous.py": [
        "charts/episodic_return",
        "charts/episodic_length",
        "charts/SPS",
        "losses/qf1_values",
        "losses/qf1_loss",
        "losses/actor_loss",
        "eval/episodic_return",
    ],
    "sac_continuous.py": [
        "charts/episodic_return",
        "charts/episodic_length",
        "charts/SPS",
        "losses/qf1_values",
        "losses/qf2_values",
        "losses/qf1_loss",
        "losses/qf2_loss",
        "losses/qf_loss",
        "losses/actor_loss",
        "losses/alpha",
        "losses/alpha_loss",
        "eval/episodic_return",
    ],
    "dqn_discrete.py": [
        "charts/episodic_return",
        "charts/episodic_length",
        "charts/SPS",
        "losses/td_loss",
        "losses/q_values",
        "eval/episodic_return",
    ],
}


def test_every_tag_cleanrl_writes_is_logged_under_its_name(smoke):
    script, run_dir, _ = smoke
    logged = scalars(run_dir)
    assert [tag for tag in CLEANRL_TAGS[script] if tag not in logged] == []
    if script == "sac_continuous.py":  # CleanRL's qf_loss is the mean of the two critics' losses, not their sum
        for (step, mean), (_, q1), (_, q2) in zip(
            *(logged[f"losses/{t}"] for t in ("qf_loss", "qf1_loss", "qf2_loss"))
        ):
            assert mean == pytest.approx((q1 + q2) / 2, rel=1e-5), step


def test_sps_is_cleanrl_rate_since_the_start(smoke):
    _, run_dir, _ = smoke
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    points = [(e.step, e.wall_time, e.value) for e in events.Scalars("charts/SPS")]
    assert [step for step, _, _ in points] == [100, 200, 300, 400, 500, 600]
    assert all(value == int(value) for _, _, value in points)  # int(steps / seconds), as CleanRL writes it
    first_step, first_time, first_value = points[0]
    start = first_time - first_step / first_value  # the time the loop began, as the first figure implies
    for step, wall_time, value in points[1:]:  # the 300 -> 400 interval holds an evaluation: its own rate is far lower
        assert value == pytest.approx(step / (wall_time - start), rel=0.05, abs=2), step


def test_first_line_says_env_budget_learning_start_device_threads_and_folder(smoke):
    script, run_dir, proc = smoke
    summary = next(line for line in proc.stdout.splitlines() if "run folder" in line)
    assert summary == (
        f"{SCRIPTS[script]['env_id']}: 600 steps, learning from step 200, on cpu with "
        f"1 torch threads; run folder {run_dir}"
    )  # the smoke run's --threads 1
    assert proc.stdout.splitlines().index(summary) <= 1  # after the replay buffer's size, before any step


@pytest.mark.slow
@pytest.mark.parametrize("script", ["ddpg_continuous.py", "sac_continuous.py"])
def test_mujoco_env_warns_once_renders_headless_and_writes_no_file_outside_the_run(script, tmp_path):
    # HalfCheetah's model makes MuJoCo warn at every load (three here: a check, training's env, evaluation's)
    short = ["--total-timesteps", "60", "--learning-starts", "30", "--batch-size", "8", "--eval-episodes", "1"]
    proc = run_script(script, "--env-id", "HalfCheetah-v5", *short, runs_dir=tmp_path / "runs", cwd=tmp_path)
    assert_ok(proc)
    # CleanRL's settings and budget for MuJoCo, with the budget given here winning
    assert (
        f"settings: CleanRL's {script[:4].rstrip('_').upper()} settings and budget: --total-timesteps 1000000"
        in proc.stdout
    )
    assert "HalfCheetah-v5: 60 steps, learning from step 30" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # no MUJOCO_LOG.TXT beside it
    warned = [line for line in proc.stderr.splitlines() if line.startswith("warning: MuJoCo:")]
    assert len(warned) == len(set(warned)) == 1, proc.stderr  # each warning once
    # a video drawn without a display; InvertedPendulum's episodes end in a few steps, HalfCheetah's take 1000 frames
    proc = run_script(
        script, "--env-id", "InvertedPendulum-v5", *short, "--capture-video", runs_dir=tmp_path / "runs", cwd=tmp_path
    )
    assert_ok(proc)
    (video,) = (tmp_path / "runs").glob("*/videos/eval-step60-episode-0.mp4")
    assert video.stat().st_size > 1000 and sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


@pytest.mark.parametrize(
    "script,env_id,network",
    [
        ("ddpg_continuous.py", "tests.envs:Pixels-v0", "actor"),
        ("sac_continuous.py", "tests.envs:Pixels-v0", "actor"),
        ("dqn_discrete.py", "tests.envs:PixelChoice-v0", "q_network"),
    ],
)
def test_image_observations_are_flattened_into_the_input_with_a_note(script, env_id, network, tmp_path):
    proc = run_main(
        script,
        "--env-id",
        env_id,
        "--total-timesteps",
        "40",
        "--learning-starts",
        "20",
        "--batch-size",
        "8",
        "--eval-episodes",
        "1",
        "--hidden-sizes",
        "8",
        runs_dir=tmp_path,
    )
    assert_ok(proc)
    assert "observations of shape (4, 4, 3) are flattened into the MLP's input" in proc.stdout
    first_layer = next(t for key, t in load_checkpoint(the_run_dir(tmp_path))[network].items() if "weight" in key)
    assert first_layer.shape == (8, 4 * 4 * 3)  # every pixel an input of the first layer


def test_dqn_evaluates_with_eval_epsilon_from_its_own_generator():
    module = importlib.import_module("dqn_discrete")
    q_network = module.QNetwork(2, 3)
    with torch.no_grad():  # argmax is always action 0, which earns nothing in Choice-v0 (action 1 earns 1)
        for p in q_network.parameters():
            p.zero_()
        q_network.net[-1].bias[0] = 1.0
    state = np.random.get_state()
    greedy = module.evaluate(
        q_network, module.Args(env_id="tests.envs:Choice-v0", eval_episodes=20, eval_epsilon=0.0), "x"
    )
    random_ = module.evaluate(
        q_network, module.Args(env_id="tests.envs:Choice-v0", eval_episodes=20, eval_epsilon=1.0), "x"
    )
    assert greedy.sum() == 0
    steps = sum(3 + k % 3 for k in range(20))  # episode k lasts 3 + k % 3 steps: 79 in all
    assert 0.15 * steps < random_.sum() < 0.55 * steps  # uniform actions: action 1 a third of the time
    assert all(np.array_equal(a, b) for a, b in zip(state, np.random.get_state()))  # training's generator untouched
    assert module.Args().eval_epsilon == 0.05  # CleanRL's evaluation epsilon


def test_dqn_evaluate_plays_the_q_network_the_checkpoint_saves(tmp_path):
    module = importlib.import_module("dqn_discrete")
    module.train(
        module.Args(
            env_id="tests.envs:Choice-v0",
            runs_dir=str(tmp_path / "runs"),
            total_timesteps=100,
            learning_starts=40,
            batch_size=8,
            train_frequency=10,
            gradient_steps=2,
            hidden_sizes=(4,),
            eval_episodes=1,
        )
    )
    checkpoint = load_checkpoint(the_run_dir(tmp_path / "runs"))
    assert checkpoint["policy"] == "q_network"

    def always(action: int) -> dict:  # a Q-network whose greedy action is `action` everywhere
        q = module.QNetwork(2, 3, (4,))
        with torch.no_grad():
            for p in q.parameters():
                p.zero_()
            q.net[-1].bias[action] = 1.0
        return q.state_dict()

    args = module.Args(env_id="tests.envs:Choice-v0", hidden_sizes=(4,), eval_episodes=3, eval_epsilon=0.0)
    checkpoint.update(q_network=always(1), target_network=always(0))  # action 1 earns 1 a step in Choice-v0
    assert module.evaluate_checkpoint(args, checkpoint) == pytest.approx((3 + 4 + 5) / 3)  # every step of 3, 4, 5
    checkpoint.update(q_network=always(0), target_network=always(1))
    assert module.evaluate_checkpoint(args, checkpoint) == 0.0  # Q, not its target


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_track_without_wandb_installed_is_a_one_line_error(script, monkeypatch, capsys):
    module = importlib.import_module(script.removesuffix(".py"))
    real_find_spec = module.importlib.util.find_spec
    monkeypatch.setattr(
        module.importlib.util, "find_spec", lambda name: None if name == "wandb" else real_find_spec(name)
    )
    monkeypatch.setattr("sys.argv", [script, "--track", "--env-id", SCRIPTS[script]["env_id"]])
    with pytest.raises(SystemExit) as stopped:
        module.main()
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "error: --track needs wandb, which is not installed: pip install -r requirements-track.txt\n"
    )


@pytest.mark.slow
@pytest.mark.parametrize("script", list(SCRIPTS))
def test_track_syncs_the_scalars_to_wandb_offline(script, tmp_path):
    pytest.importorskip("wandb", reason="the optional extra: pip install -r requirements-track.txt")
    proc = run_script(
        script,
        "--env-id",
        SCRIPTS[script]["env_id"],
        *QUICK,
        "--eval-frequency",
        "0",
        "--track",
        "--wandb-project-name",
        "tests",
        runs_dir=tmp_path / "runs",
        cwd=tmp_path,
        env={
            "WANDB_MODE": "offline",
            "WANDB_SILENT": "true",
            "HOME": str(tmp_path / "home"),
            "XDG_CACHE_HOME": "",
            "XDG_DATA_HOME": "",
        },
    )
    assert_ok(proc)
    (tmp_path / "home").mkdir(exist_ok=True)
    assert [p for p in (tmp_path / "home").rglob("*")] == []  # W&B's cache (its debug logs) is not in ~/.cache
    run_dir = the_run_dir(tmp_path / "runs")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "runs"]  # W&B's files are in the run folder
    assert list((run_dir / "wandb" / "cache").rglob("core-debug-*.log"))  # where they went
    (wandb_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    synced, logged = wandb_history(wandb_file), scalars(run_dir)
    for tag in (SCRIPTS[script]["loss_tag"], "charts/episodic_return"):
        assert [step for step, _ in synced[tag]] == [step for step, _ in logged[tag]], tag
        assert [value for _, value in synced[tag]] == pytest.approx([value for _, value in logged[tag]], rel=1e-6)


HIDDEN_WEIGHTS = {  # the weight shapes of each saved network with --hidden-sizes 24 16 (Pendulum: 3 inputs, 1 action)
    "ddpg_continuous.py": {"actor": [(24, 3), (16, 24), (1, 16)], "critic": [(24, 4), (16, 24), (1, 16)]},
    "sac_continuous.py": {
        "actor": [(24, 3), (16, 24), (1, 16), (1, 16)],
        "critic": [(24, 4), (16, 24), (1, 16)] * 2,
    },  # Q1's layers, then Q2's
    "dqn_discrete.py": {"q_network": [(24, 4), (16, 24), (2, 16)], "target_network": [(24, 4), (16, 24), (2, 16)]},
}


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_hidden_sizes_shape_every_network(script, tmp_path):
    proc = run_main(
        script,
        "--env-id",
        SCRIPTS[script]["env_id"],
        *QUICK,
        "--total-timesteps",
        "300",
        "--hidden-sizes",
        "24",
        "16",
        runs_dir=tmp_path,
    )
    assert_ok(proc)
    checkpoint = load_checkpoint(the_run_dir(tmp_path))
    for name, shapes in HIDDEN_WEIGHTS[script].items():
        weights = [tuple(t.shape) for key, t in checkpoint[name].items() if "weight" in key]
        assert weights == shapes, (name, weights)
