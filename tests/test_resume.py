"""--resume continues the very run it stopped: every tensor equal to a run never stopped, and bad checkpoints refused."""

import importlib
import math
import re
import signal

import numpy as np
import pytest
import torch

from tests.helpers import assert_ok, load_checkpoint, run_main, run_script, scalars, start_script, the_run_dir
from tests.test_scripts import SCRIPTS

# Learning from step 300 with small batches: a few seconds per run, and gradient steps on both sides of the resume.
SHORT = [
    "--learning-starts",
    "300",
    "--batch-size",
    "32",
    "--log-frequency",
    "100",
    "--eval-frequency",
    "0",
    "--hidden-sizes",
    "64",
    "64",
    "--eval-episodes",
    "1",
]
# DQN's epsilon and learning-rate schedules span --total-timesteps; flat ones let a run of 1000 steps continue to
# 2000 unchanged.
FLAT_EPSILON = {
    "dqn_discrete.py": [
        "--start-e",
        "0.2",
        "--end-e",
        "0.2",
        "--train-frequency",
        "2",
        "--gradient-steps",
        "1",
        "--target-network-frequency",
        "100",
        "--buffer-size",
        "700",
        "--no-anneal-lr",
    ]
}
# Flags whose saved value a resume must not keep when the command line sets them back to the default.
BACK_TO_DEFAULT = {
    "ddpg_continuous.py": (["--policy-frequency", "1"], ["--policy-frequency", "2"], {"policy_frequency": 2}),
    "sac_continuous.py": (["--no-autotune", "--alpha", "0.5"], ["--alpha", "0.2"], {"alpha": 0.2}),
    "dqn_discrete.py": (["--double-dqn"], ["--no-double-dqn"], {"double_dqn": False}),
}
LEARNING_RATE = {
    "ddpg_continuous.py": "--learning-rate",
    "sac_continuous.py": "--q-lr",
    "dqn_discrete.py": "--learning-rate",
}


def flatten(value, prefix=""):
    """(path, leaf) for every leaf of nested dicts, lists and tuples: tensors, arrays, numbers, strings."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}/{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from flatten(item, f"{prefix}[{i}]")
    else:
        yield prefix, value


def assert_same_state(a: dict, b: dict) -> None:
    """Every tensor, array, counter and RNG state equal; the settings (total steps differ) and the pickled envs
    (their bytes hold wall-clock times) aside: the envs' effect is in the observation, buffer and returns."""
    left = {k: v for k, v in flatten(a) if not k.startswith(("/args", "/envs"))}
    right = {k: v for k, v in flatten(b) if not k.startswith(("/args", "/envs"))}
    assert left.keys() == right.keys()
    differing = [
        k
        for k in left
        if not (
            torch.equal(left[k], right[k]) if isinstance(left[k], torch.Tensor) else np.array_equal(left[k], right[k])
        )
    ]
    assert not differing, f"{len(differing)} of {len(left)} entries differ, first {differing[:5]}"


@pytest.mark.slow
@pytest.mark.parametrize("script", list(SCRIPTS))
def test_half_then_resume_equals_the_straight_run(script, tmp_path):
    args = [
        "--env-id",
        SCRIPTS[script]["env_id"],
        *SHORT,
        "--save-buffer",
        "--checkpoint-frequency",
        "1000",
        *FLAT_EPSILON.get(script, []),
    ]
    # the runs to compare with in this process; the resumed one from a real process, as a user resumes
    assert_ok(run_main(script, *args, "--total-timesteps", "2000", runs_dir=tmp_path / "straight"))
    assert_ok(run_main(script, *args, "--total-timesteps", "1000", runs_dir=tmp_path / "halves"))
    halves = the_run_dir(tmp_path / "halves")
    resumed = run_script(
        script, "--resume", str(halves / "checkpoint.pt"), "--total-timesteps", "2000", runs_dir=tmp_path / "halves"
    )
    assert_ok(resumed)
    assert "replay buffer holds" in resumed.stdout and "fresh episodes" not in resumed.stdout
    straight = load_checkpoint(the_run_dir(tmp_path / "straight"))
    assert straight["buffer"]["size"] == (700 if script == "dqn_discrete.py" else 2000)  # DQN's buffer wrapped
    assert_same_state(straight, load_checkpoint(halves))
    # the episode statistics went on too: the same returns were logged after the resume
    logged = [scalars(d)["charts/episodic_return"] for d in (the_run_dir(tmp_path / "straight"), halves)]
    assert logged[0] == logged[1]


@pytest.mark.slow
@pytest.mark.parametrize("script", list(SCRIPTS))
def test_run_stopped_by_sigterm_and_resumed_equals_the_straight_run(script, tmp_path):
    # No --save-buffer: the checkpoint a signal writes carries the buffer all the same.
    args = ["--env-id", SCRIPTS[script]["env_id"], *SHORT, "--total-timesteps", "2000"]
    assert_ok(run_main(script, *args, runs_dir=tmp_path / "straight"))
    proc = start_script(script, *args, runs_dir=tmp_path / "stopped")
    for line in proc.stdout:
        match = re.match(r"step\s+(\d+)/", line)
        if match and int(match.group(1)) >= 1000:
            break
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    run_dir = the_run_dir(tmp_path / "stopped")
    stopped = load_checkpoint(run_dir)
    assert 1000 <= stopped["global_step"] < 2000 and stopped["buffer"] is not None
    command = re.search(r"continue with: python (\S+) --resume (\S+)", stdout)
    assert command.groups() == (script, str(run_dir / "checkpoint.pt"))
    assert_ok(run_script(script, "--resume", command.group(2), runs_dir=tmp_path / "stopped"))
    assert_same_state(load_checkpoint(the_run_dir(tmp_path / "straight")), load_checkpoint(run_dir))
    # a stop between two logs writes no rate for the partial interval
    assert all(step % 100 == 0 for step, _ in scalars(run_dir)["charts/SPS"])


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_every_flag_beside_resume_wins_even_the_default(script, tmp_path):
    saved_flags, given_flags, expected = BACK_TO_DEFAULT[script]
    args = [
        "--env-id",
        SCRIPTS[script]["env_id"],
        *SHORT,
        "--total-timesteps",
        "400",
        *saved_flags,
        LEARNING_RATE[script],
        "0.01",
    ]
    assert_ok(run_main(script, *args, runs_dir=tmp_path))
    run_dir = the_run_dir(tmp_path)
    resumed = run_main(
        script,
        "--resume",
        str(run_dir / "checkpoint.pt"),
        "--total-timesteps",
        "500",
        "--eval-episodes",
        "10",
        LEARNING_RATE[script],
        "0.002",
        *given_flags,
        runs_dir=tmp_path,
    )
    assert_ok(resumed)
    assert "over 10 episodes" in resumed.stdout  # 10 is the default, the saved value was 1
    checkpoint = load_checkpoint(run_dir)
    for name, value in {**expected, "eval_episodes": 10, "batch_size": 32}.items():  # batch size: saved, not given
        assert checkpoint["args"][name] == value, name
    optimizer = "critic_optimizer" if "critic_optimizer" in checkpoint else "optimizer"
    assert checkpoint[optimizer]["param_groups"][0]["lr"] == 0.002  # the flag, not the optimizer's saved state
    if script == "sac_continuous.py":  # a fixed temperature is --alpha's, not the one saved
        assert checkpoint["log_alpha"].item() == pytest.approx(math.log(0.2))


def finished_600_step_run(script: str, tmp_path):
    """The run folder of a finished 600-step run that makes one update a step from step 300 on."""
    every_step = ["--train-frequency", "1", "--gradient-steps", "1"] if script == "dqn_discrete.py" else []
    args = ["--env-id", SCRIPTS[script]["env_id"], *SHORT, "--total-timesteps", "600", *every_step]
    assert_ok(run_main(script, *args, runs_dir=tmp_path))
    return the_run_dir(tmp_path)


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_resume_without_buffer_refills_learning_starts_transitions_first(script, tmp_path):
    run_dir = finished_600_step_run(script, tmp_path)
    before = load_checkpoint(run_dir)
    assert before["buffer"]["size"] == 600 and before["num_updates"] == 301  # steps 300 to 600
    before["buffer"] = None  # as in a periodic checkpoint, or a final one whose buffer did not fit in memory
    torch.save(before, run_dir / "checkpoint.pt")
    resumed = run_main(
        script,
        "--resume",
        str(run_dir / "checkpoint.pt"),
        "--total-timesteps",
        "1000",
        "--save-buffer",
        runs_dir=tmp_path,
    )
    assert_ok(resumed)
    assert "no replay buffer saved: 300 new transitions before updates go on" in resumed.stdout
    after = load_checkpoint(run_dir)
    assert after["buffer"]["size"] == 400
    assert after["num_updates"] == 301 + 101  # none from 601 to 899, then steps 900 to 1000


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_a_finished_run_extended_learns_from_its_first_new_step(script, tmp_path):
    run_dir = finished_600_step_run(script, tmp_path)
    assert load_checkpoint(run_dir)["num_updates"] == 301  # steps 300 to 600
    extended = run_main(script, "--resume", str(run_dir), "--total-timesteps", "700", runs_dir=tmp_path)
    assert_ok(extended)
    assert "replay buffer holds 600 transitions" in extended.stdout
    assert load_checkpoint(run_dir)["num_updates"] == 301 + 100  # steps 601 to 700: one update each


def buffer_of(script: str, capacity: int):
    module = importlib.import_module(script.removesuffix(".py"))
    if script == "dqn_discrete.py":
        return module.ReplayBuffer(capacity, 2, torch.device("cpu"))
    return module.ReplayBuffer(capacity, 2, 1, torch.device("cpu"))


def numbered(values):
    """Transitions whose every field holds their number: obs [v, v], action [v], reward v, next obs [v, v]."""
    v = np.array(values, np.float32)
    return v[:, None].repeat(2, 1), v[:, None], v, v[:, None].repeat(2, 1), np.zeros(len(v), bool)


@pytest.mark.parametrize("script", list(SCRIPTS))
@pytest.mark.parametrize("capacity,kept", [(8, [2, 3, 4, 5, 6]), (3, [4, 5, 6]), (5, [5, 6, 2, 3, 4])])
def test_another_buffer_size_keeps_the_newest_transitions_in_order(script, capacity, kept):
    rb = buffer_of(script, 5)
    rb.add(*numbered([0, 1, 2, 3, 4, 5, 6]))  # wrapped: rows hold 5 6 2 3 4, the oldest at row 2
    resized = buffer_of(script, capacity)
    module = importlib.import_module(script.removesuffix(".py"))
    module.load_buffer_state(resized, module.buffer_state(rb))
    assert resized.size == len(kept)
    assert resized.fields[2][: resized.size].tolist() == kept
    torch.manual_seed(0)
    assert set(resized.sample(300)[2].tolist()) == set(kept)  # no unwritten (all-zero) row is ever drawn
    resized.add(*numbered([7]))  # the next write replaces the oldest row, or fills the next empty one
    rewards = resized.fields[2][: resized.size].tolist()
    assert 7.0 in rewards and resized.size == min(len(kept) + 1, capacity)
    if len(kept) == capacity and capacity != 5:
        assert kept[0] not in rewards


@pytest.fixture(scope="module", params=list(SCRIPTS))
def saved_run(request, tmp_path_factory):
    script = request.param
    runs_dir = tmp_path_factory.mktemp("saved")
    assert_ok(
        run_main(script, "--env-id", SCRIPTS[script]["env_id"], *SHORT, "--total-timesteps", "400", runs_dir=runs_dir)
    )
    return script, the_run_dir(runs_dir) / "checkpoint.pt"


def bad_checkpoints(script: str, checkpoint_path, tmp_path):
    other = next(s for s in SCRIPTS if s != script)
    torch.save({"script": other, "args": {}}, tmp_path / "other.pt")
    data = checkpoint_path.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "notes.pt").write_text("not a checkpoint\n")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    older = torch.load(checkpoint_path, weights_only=False)
    del older["format"]  # as every checkpoint written before the format was numbered
    torch.save(older, tmp_path / "older.pt")
    other_env = "MountainCarContinuous-v0" if SCRIPTS[script]["env_id"] == "Pendulum-v1" else "Acrobot-v1"
    for flag in ["--resume", "--evaluate"]:
        yield (
            [flag, str(tmp_path / "other.pt")],
            f"is not a checkpoint of {script}; it was written by {other}: use {other}",
        )
        yield [flag, str(tmp_path / "truncated.pt")], "cannot be read as a checkpoint"
        yield [flag, str(tmp_path / "notes.pt")], "cannot be read as a checkpoint"
        yield [flag, str(tmp_path / "list.pt")], f"is not a checkpoint of {script}"
        yield (
            [flag, str(tmp_path / "older.pt")],
            (
                f"'{tmp_path / 'older.pt'}' is from an older version of {script}, whose "
                "checkpoints hold other things: evaluate or resume it with that version"
            ),
        )
        yield [flag, str(checkpoint_path), "--env-id", other_env], f"--env-id {other_env} differs from the checkpoint's"
        yield (
            [flag, str(checkpoint_path), "--hidden-sizes", "7", "5"],
            "--hidden-sizes (7, 5) differs from the checkpoint's",
        )
    yield ["--resume", str(checkpoint_path)], "the checkpoint is at step 400 and --total-timesteps is 400: raise"


def test_bad_checkpoints_get_a_one_line_error(saved_run, tmp_path):
    script, checkpoint_path = saved_run
    before = checkpoint_path.read_bytes()
    for args, message in bad_checkpoints(script, checkpoint_path, tmp_path):
        proc = run_main(script, *args, runs_dir=tmp_path)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), (args, proc.stderr)
        assert message in lines[0], (args, lines[0])
    assert checkpoint_path.read_bytes() == before  # the run it names is left as it was


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_weights_gone_non_finite_are_never_kept_as_the_last_finite_state(script, tmp_path):
    # A learning rate of 1e39 overflows float32 in the first optimizer step, whose loss was still finite. The log at
    # that step must catch the weights, not keep them as "finite" (DDPG: no actor step yet to turn a loss NaN).
    flags = {
        "ddpg_continuous.py": ["--learning-rate", "1e39", "--policy-frequency", "2"],
        "sac_continuous.py": ["--q-lr", "1e39"],
        "dqn_discrete.py": ["--learning-rate", "1e39", "--train-frequency", "1", "--gradient-steps", "1"],
    }
    proc = run_main(
        script,
        "--env-id",
        SCRIPTS[script]["env_id"],
        *SHORT,
        "--total-timesteps",
        "1000",
        *flags[script],
        runs_dir=tmp_path,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "error: the weights became NaN or inf between steps 200 and 300" in proc.stderr
    checkpoint = load_checkpoint(the_run_dir(tmp_path))
    assert checkpoint["global_step"] == 200
    for name in ["critic", "target_critic", "q_network", "target_network"]:
        for tensor in checkpoint.get(name, {}).values():
            assert torch.isfinite(tensor).all(), name


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_progress_line_gives_no_time_left_from_the_warm_up_rate(script, tmp_path):
    proc = run_main(
        script, "--env-id", SCRIPTS[script]["env_id"], *SHORT, "--total-timesteps", "600", runs_dir=tmp_path
    )
    assert_ok(proc)
    lines = {int(m.group(1)): m.group(2) for m in re.finditer(r"step\s+(\d+)/600 .*steps/s \| (.*)", proc.stdout)}
    assert sorted(lines) == [100, 200, 300, 400, 500, 600]
    assert lines[100].endswith("left of the warm-up") and lines[200].endswith("left of the warm-up")
    assert lines[300] == "?:??:?? left"  # this interval was all warm-up: its rate says nothing of training's
    assert all(re.fullmatch(r"\d+:\d\d:\d\d left", lines[step]) for step in (400, 500, 600))


def test_a_runs_dir_that_cannot_be_made_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for script in SCRIPTS:
        proc = run_main(script, "--total-timesteps", "10", runs_dir=blocker / "runs")
        assert proc.returncode == 2 and proc.stderr.startswith("error: cannot create the run folder"), proc.stderr
        assert "give a writable --runs-dir" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
