"""benchmarks/grid.py and benchmarks/plot.py on a tiny grid: real runs of our scripts, locally and on a Ray cluster."""

import importlib.util
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import REPO, scalars

sys.path.insert(0, str(REPO / "benchmarks"))
import grid  # noqa: E402
import plot  # noqa: E402

# a few seconds per run, through gradient steps, evaluation and a checkpoint
TINY = [
    "--total-timesteps",
    "400",
    "--learning-starts",
    "200",
    "--batch-size",
    "16",
    "--eval-frequency",
    "200",
    "--eval-episodes",
    "1",
    "--log-frequency",
    "100",
]


def run_grid(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "grid.py"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def final_eval_from_log(seed_folder: Path) -> float:
    """The last `eval at step N: return X` line the script printed."""
    values = re.findall(r"eval at step \d+: return (-?[\d.]+)", (seed_folder / "log.txt").read_text())
    return float(values[-1])


@pytest.mark.slow
def test_grid_runs_every_seed_reports_failures_and_skips_finished_runs(tmp_path):
    out = tmp_path / "grid"
    first = run_grid(
        "--algos",
        "ddpg",
        "--env-ids",
        "Pendulum-v1",
        "NoSuchEnv-v0",
        "--seeds",
        "1",
        "2",
        "--jobs",
        "2",
        "--out",
        str(out),
        "--",
        *TINY,
    )
    assert first.returncode == 1, first.stdout + first.stderr
    assert "4 to run" in first.stdout and "2 ok, 2 failed" in first.stdout
    for seed in (1, 2):
        folder = out / "Pendulum-v1" / "ddpg" / f"seed{seed}"
        assert json.loads((folder / "done.json").read_text())["exit_code"] == 0
        run_dir = next(p for p in folder.iterdir() if p.is_dir())
        assert (run_dir / "checkpoint.pt").exists()
        logged = scalars(run_dir)
        assert [step for step, _ in logged["eval/episodic_return"]] == [200, 400]
        assert "losses/qf1_loss" in logged  # the runs reached gradient steps
        failed = out / "NoSuchEnv-v0" / "ddpg" / f"seed{seed}"
        assert not (failed / "done.json").exists()
        assert f"failed: NoSuchEnv-v0/ddpg/seed{seed}, log {failed / 'log.txt'}" in first.stdout
        assert "error:" in (failed / "log.txt").read_text()  # the script's own one-line error is kept
    done_before = {p: p.stat().st_mtime for p in out.glob("Pendulum-v1/ddpg/seed*/done.json")}

    second = run_grid(
        "--algos", "ddpg", "--env-ids", "Pendulum-v1", "--seeds", "1", "2", "--out", str(out), "--", *TINY
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "2 already done, 0 to run" in second.stdout
    assert {p: p.stat().st_mtime for p in out.glob("Pendulum-v1/ddpg/seed*/done.json")} == done_before

    # plot.py's table: mean and std over seeds of what the runs printed as their final evaluation
    table_dir = tmp_path / "results"
    with_png = importlib.util.find_spec("matplotlib") is not None  # optional: benchmarks/requirements-plot.txt
    plot = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "plot.py"),
            "--grid",
            str(out),
            "--out",
            str(table_dir),
            *([] if with_png else ["--no-png"]),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert plot.returncode == 0, plot.stderr
    if with_png:
        png = (table_dir / "Pendulum-v1.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    finals = [final_eval_from_log(out / "Pendulum-v1" / "ddpg" / f"seed{s}") for s in (1, 2)]
    row = next(line for line in (table_dir / "results.md").read_text().splitlines() if "| ddpg |" in line)
    cells = [cell.strip() for cell in row.split("|")[1:-1]]
    assert cells[:4] == ["Pendulum-v1", "ddpg", "400", "2"]
    assert cells[8] == grid.code_version("ddpg_continuous.py")  # the code the runs ran, as the grid recorded it
    run_rows = [line for line in (table_dir / "runs.md").read_text().splitlines() if "| ddpg |" in line]
    assert [row.split("|")[3].strip() for row in run_rows] == ["1", "2"] and all(
        row.split("|")[-2].strip() == cells[8] for row in run_rows
    )
    mean, std = (float(x) for x in cells[4].split(" +- "))
    assert mean == pytest.approx(np.mean(finals), abs=0.06) and std == pytest.approx(np.std(finals), abs=0.06)
    assert "NoSuchEnv" not in (table_dir / "results.md").read_text()  # failed runs are left out
    # without --out, the table goes into the grid's own folder, never into the committed benchmarks/results
    published = (REPO / "benchmarks" / "results" / "results.md").read_text()
    default = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "plot.py"), "--grid", str(out), "--no-png"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert default.returncode == 0, default.stderr
    assert "| Pendulum-v1 | ddpg | 400 | 2 |" in (out / "plots" / "results.md").read_text()
    assert (REPO / "benchmarks" / "results" / "results.md").read_text() == published

    # a grid run in parts builds one table: rows of other (env, algo) pairs are kept, this grid's are rewritten
    results = table_dir / "results.md"
    other = "| CartPole-v1 | dqn | 500000 | 5 | 1.0 +- 0.0 | 1.0 +- 0.0 | 1.0 +- 0.0 | 1 s | ? | - |"
    results.write_text(results.read_text().replace(row, row.replace(cells[4], "999.0 +- 0.0")) + other + "\n")
    again = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "plot.py"), "--grid", str(out), "--out", str(table_dir), "--no-png"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    lines = results.read_text().splitlines()
    assert lines[2:] == [other, row]  # sorted by env: the kept row first, then this grid's row as computed
    assert "kept from the earlier" in again.stdout and "CartPole-v1/dqn" in again.stdout
    fresh = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "plot.py"),
            "--grid",
            str(out),
            "--out",
            str(table_dir),
            "--no-png",
            "--fresh",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert fresh.returncode == 0, fresh.stderr
    assert results.read_text().splitlines()[2:] == [row]


def test_algos_env_ids_and_seeds_beside_a_preset_pick_a_part_of_it_with_its_flags():

    def runs(**chosen):
        args = dict(algos=None, env_ids=None, seeds=None, preset="published", extra=["--cuda-off"]) | chosen
        return grid.build_grid(grid.argparse.Namespace(**args))

    everything = runs()
    assert len(everything) == 2 * 5 + 2 * 5 + 2 * 2 * 3  # Pendulum, CartPole and Acrobot, HalfCheetah and Hopper
    hopper = runs(env_ids=["Hopper-v5"])
    assert [run.name for run in hopper] == [
        f"Hopper-v5/{algo}/seed{seed}" for algo in ("ddpg", "sac") for seed in (1, 2, 3)
    ]
    assert hopper == [run for run in everything if run.env_id == "Hopper-v5"]  # the same flags as in the whole grid
    assert hopper[0].flags[-3:] == ["--eval-frequency", "10000", "--cuda-off"]  # flags after -- still go last
    assert [run.name for run in runs(algos=["sac"], seeds=[2, 9])] == [
        "Pendulum-v1/sac/seed2",
        "HalfCheetah-v5/sac/seed2",
        "Hopper-v5/sac/seed2",
    ]
    assert runs(env_ids=["Hopper-v4"]) == []
    refused = run_grid("--preset", "published", "--env-ids", "Hopper-v4", "--out", "/nonexistent/grid")
    assert refused.returncode == 1 and "select no run of the preset" in refused.stderr


def test_the_command_for_an_interrupted_run_resumes_its_checkpoint_with_buffer(tmp_path):
    run = grid.Run("sac", "Pendulum-v1", 3, ["--total-timesteps", "400"])
    folder = tmp_path / run.name
    assert "--resume" not in run.command(folder)
    (folder / "Pendulum-v1__sac_continuous__3__1").mkdir(parents=True)
    (folder / "Pendulum-v1__sac_continuous__3__1" / "checkpoint.pt").write_bytes(b"")
    command = run.command(folder)
    assert "--save-buffer" in command  # the resumed run gets its replay buffer back
    assert command[0] == "sac_continuous.py" and command[-2:] == [
        "--resume",
        str(folder / "Pendulum-v1__sac_continuous__3__1" / "checkpoint.pt"),
    ]


def test_each_preset_but_the_published_one_writes_apart_from_the_published_runs(tmp_path):
    out = lambda **a: grid.out_folder(grid.argparse.Namespace(**{"out": None, "preset": None} | a))  # noqa: E731
    assert out(preset="smoke") == REPO / "runs" / "grid-smoke"
    assert out(preset="known-good") == REPO / "runs" / "grid-known-good"
    assert out(preset="halfcheetah-1m") == REPO / "runs" / "grid-halfcheetah-1m"
    assert out(preset="published") == out() == REPO / "runs" / "grid"
    assert out(preset="smoke", out=tmp_path) == tmp_path


def test_the_1m_preset_runs_ddpg_and_sac_on_halfcheetah_at_the_scripts_mujoco_preset():
    args = grid.argparse.Namespace(preset="halfcheetah-1m", algos=None, env_ids=None, seeds=None, extra=[])
    runs = grid.build_grid(args)
    assert [run.name for run in runs] == [f"HalfCheetah-v5/{a}/seed{s}" for a in ("ddpg", "sac") for s in (1, 2, 3)]
    for run in runs:  # no budget or learning flag: the script's MuJoCo preset (CleanRL's settings, 1M steps) rules
        assert run.flags == ["--eval-frequency", "100000"]
        assert "--save-buffer" in run.command(Path("/nowhere"))  # every checkpoint can be resumed exactly


def test_a_run_another_grid_holds_is_not_started_twice(tmp_path):
    out = tmp_path / "grid"
    folder = out / "Pendulum-v1" / "ddpg" / "seed2"
    folder.mkdir(parents=True)
    held = grid.lock(folder)  # as a grid (or its script) running that run holds it
    args = ["--algos", "ddpg", "--env-ids", "Pendulum-v1", "--seeds", "1", "2", "--out", str(out), "--", *TINY]
    refused = run_grid(*args)
    assert refused.returncode == 1
    assert f"error: {folder} is being run by another grid" in refused.stderr
    assert not (out / "Pendulum-v1" / "ddpg" / "seed1" / "log.txt").exists()  # nothing started
    held.close()
    assert run_grid(*args).returncode == 0


@pytest.mark.slow
def test_a_stopped_grid_passes_the_stop_on_and_the_same_command_resumes_every_run(tmp_path):
    out = tmp_path / "grid"
    budget = ["--total-timesteps", "4000", "--learning-starts", "200", "--batch-size", "16", "--log-frequency", "100"]
    cmd = [sys.executable, str(REPO / "benchmarks" / "grid.py"), "--algos", "ddpg", "--env-ids", "Pendulum-v1"]
    cmd += ["--seeds", "1", "2", "3", "--jobs", "2", "--out", str(out), "--", *budget]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    logs = [out / "Pendulum-v1" / "ddpg" / f"seed{seed}" / "log.txt" for seed in (1, 2)]
    deadline = time.time() + 120
    while not all(log.exists() and "step      300/" in log.read_text() for log in logs):  # both past learning_starts
        assert time.time() < deadline and proc.poll() is None, "the runs did not start"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 128 + signal.SIGTERM, output
    assert "0 ok, 0 failed, 3 stopped" in output  # the third never started
    for seed in (1, 2):
        folder = out / "Pendulum-v1" / "ddpg" / f"seed{seed}"
        assert "stopped by signal 15" in (folder / "log.txt").read_text()
        (segment,) = json.loads((folder / "grid.json").read_text())["segments"]
        assert segment["exit_code"] == 128 + signal.SIGTERM and not segment["resumed"] and segment["seconds"] > 0
        assert segment["code"] == grid.code_version("ddpg_continuous.py")
        assert not (folder / "done.json").exists()
    assert not (out / "Pendulum-v1" / "ddpg" / "seed3" / "grid.json").exists() or not grid.segments(
        out / "Pendulum-v1" / "ddpg" / "seed3"
    )

    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    for seed in (1, 2):
        folder = out / "Pendulum-v1" / "ddpg" / f"seed{seed}"
        log = (folder / "log.txt").read_text()
        assert "stopped by signal 15" in log and "resumed " in log  # both segments kept, in order
        done = json.loads((folder / "done.json").read_text())
        assert done["resumes"] == 1 and done["seconds"] == pytest.approx(
            sum(segment["seconds"] for segment in grid.segments(folder))
        )
        assert done["code"] == [grid.code_version("ddpg_continuous.py")]  # both segments ran the same code
    done = json.loads((out / "Pendulum-v1" / "ddpg" / "seed3" / "done.json").read_text())
    assert done["resumes"] == 0


def test_the_code_a_segment_runs_is_the_last_commit_of_its_script_and_any_edit_since(tmp_path, monkeypatch):
    git = lambda *a: subprocess.run(["git", "-C", str(tmp_path), *a], capture_output=True, text=True, check=True)  # noqa: E731
    monkeypatch.setattr(grid, "REPO", tmp_path)
    assert grid.code_version("ddpg_continuous.py") is None  # not a checkout
    git("init", "-q")
    (tmp_path / "ddpg_continuous.py").write_text("print(1)\n")
    assert grid.code_version("ddpg_continuous.py") is None  # not tracked
    (tmp_path / "README.md").write_text("first\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "script")
    script_commit = git("rev-parse", "--short", "HEAD").stdout.strip()
    assert grid.code_version("ddpg_continuous.py") == script_commit
    (tmp_path / "README.md").write_text("second\n")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "docs")
    assert grid.code_version("ddpg_continuous.py") == script_commit  # a later commit that leaves the script alone
    (tmp_path / "ddpg_continuous.py").write_text("print(2)\n")
    blob = git("hash-object", "ddpg_continuous.py").stdout.strip()[:7]
    assert grid.code_version("ddpg_continuous.py") == f"{script_commit}+changes:{blob}"


def test_an_unfinished_run_is_not_resumed_with_another_version_of_its_script(tmp_path, monkeypatch):
    out = tmp_path / "grid"
    folder = out / "Pendulum-v1" / "ddpg" / "seed1"
    folder.mkdir(parents=True)
    run = grid.Run("ddpg", "Pendulum-v1", 1, TINY)
    segment = {"started": 0.0, "seconds": 5.0, "resumed": False, "exit_code": 143, "code": "0123abc"}
    (folder / "grid.json").write_text(json.dumps({"settings": run.settings, "segments": [segment]}))
    args = ["--algos", "ddpg", "--env-ids", "Pendulum-v1", "--seeds", "1", "--out", str(out), "--", *TINY]
    refused = run_grid(*args)
    assert refused.returncode == 1 and refused.stdout == ""
    here = grid.code_version("ddpg_continuous.py")
    assert refused.stderr == (
        f"error: {folder} was run with ddpg_continuous.py of commit 0123abc, and this checkout's is {here}: resume "
        "from a checkout of that commit (git worktree add DIR 0123abc), or give another --out\n"
    )
    monkeypatch.setattr(grid, "REPO", tmp_path)  # a copy that is not a git checkout: its code cannot be told
    with pytest.raises(SystemExit) as not_a_checkout:
        grid.check_folders([run], out)
    assert str(not_a_checkout.value) == (
        f"error: {folder} was run with ddpg_continuous.py of commit 0123abc, and this checkout's is unknown, as it is "
        "not a git checkout: resume from a checkout of that commit (git worktree add DIR 0123abc), or give another "
        "--out"
    )
    monkeypatch.undo()
    segment["code"] = here  # the same code: it resumes (here from no checkpoint, so from the start)
    (folder / "grid.json").write_text(json.dumps({"settings": run.settings, "segments": [segment]}))
    assert run_grid(*args).returncode == 0
    assert json.loads((folder / "done.json").read_text())["code"] == [here]


@pytest.mark.parametrize(
    "saved",
    [
        {"settings": {"algo": "ddpg", "env_id": "Pendulum-v1", "seed": 1, "flags": ["--total-timesteps", "600"]}},
        {"exit_code": 0},
    ],
)  # a smoke run's settings; a done.json that names none
def test_a_folder_holding_a_run_of_other_settings_is_neither_counted_as_done_nor_resumed(saved, tmp_path):
    folder = tmp_path / "grid" / "Pendulum-v1" / "ddpg" / "seed1"
    folder.mkdir(parents=True)
    (folder / "done.json").write_text(json.dumps(saved))
    refused = run_grid(
        "--preset",
        "published",
        "--algos",
        "ddpg",
        "--env-ids",
        "Pendulum-v1",
        "--seeds",
        "1",
        "--out",
        str(tmp_path / "grid"),
    )
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == (
        f"error: {folder} holds a run of other settings "
        f"({' '.join(saved.get('settings', {}).get('flags', ['?']))}): give another --out, or "
        "remove that folder\n"
    )
    assert sorted(p.name for p in folder.iterdir()) == ["done.json"]  # nothing started


def fake_finished_run(folder: Path, settings: dict) -> None:
    """A seed folder as grid.py leaves it: a run folder with a few logged episodes and evaluations, done.json."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(folder / "Pendulum-v1__ddpg_continuous__1__1")
    for step in range(200, 2001, 200):
        writer.add_scalar("charts/episodic_return", -1000.0 + step / 10, step)
        writer.add_scalar("eval/episodic_return", -500.0 + step / 10, step)
    writer.close()
    (folder / "done.json").write_text(json.dumps({"exit_code": 0, "settings": settings}))


def test_plot_gives_each_runs_running_time_resumes_and_code_from_its_segments_also_in_progress(tmp_path, monkeypatch):
    folder = tmp_path / "grid" / "Pendulum-v1" / "ddpg" / "seed1"
    settings = {"algo": "ddpg", "env_id": "Pendulum-v1", "seed": 1, "flags": []}
    fake_finished_run(folder, settings)
    (folder / "done.json").unlink()  # still running
    segments = [
        {"started": 0.0, "seconds": 1500.0, "resumed": False, "exit_code": None},  # killed, before code was recorded
        {"started": 9000.0, "seconds": 600.0, "resumed": True, "exit_code": 143, "code": "abc1234"},
        {"started": 9700.0, "seconds": 300.0, "resumed": True, "exit_code": None, "code": "abc1234"},
    ]
    (folder / "grid.json").write_text(json.dumps({"settings": settings, "segments": segments}))
    second = tmp_path / "grid" / "Pendulum-v1" / "ddpg" / "seed2"  # finished, every segment of code abc1234
    fake_finished_run(second, settings | {"seed": 2})
    segment = {"started": 0.0, "seconds": 1200.0, "resumed": False, "exit_code": 0, "code": "abc1234"}
    (second / "grid.json").write_text(json.dumps({"settings": settings | {"seed": 2}, "segments": [segment]}))
    out = tmp_path / "plots"
    argv = ["plot.py", "--grid", str(tmp_path / "grid"), "--out", str(out), "--no-png", "--include-unfinished"]
    monkeypatch.setattr("sys.argv", argv)
    plot.main()
    row, second_row = [line for line in (out / "runs.md").read_text().splitlines() if "| ddpg |" in line]
    cells = [cell.strip() for cell in row.split("|")[1:-1]]
    # 2000 steps in 1500 + 600 + 300 = 2400 s of running (not the 10000 s between the first start and the last)
    assert cells[3:] == ["2000", "-890.0", "-300.0", "0.67 h", "2", "1", "?, abc1234"]  # returns: mean of -980..-800
    assert second_row.endswith("| 0.33 h | 0 | 2 | abc1234 |")
    # the table over seeds: the median of 2400 s and 1200 s; each code once, though seed 2 ran only abc1234
    assert "| 30.0 min | ?, abc1234 |" in (out / "results.md").read_text()


def test_plot_puts_only_runs_at_the_published_settings_into_the_published_folder(tmp_path, monkeypatch, capsys):
    published_folder = tmp_path / "results"
    published_folder.mkdir()
    old_row = "| Pendulum-v1 | ddpg | 20000 | 5 | 1.0 +- 0.0 | 1.0 +- 0.0 | 1.0 +- 0.0 | 1 s | ? | - |"
    kept_row = "| CartPole-v1 | dqn | 500000 | 5 | 2.0 +- 0.0 | 2.0 +- 0.0 | 2.0 +- 0.0 | 1 s | ? | - |"
    header = plot.table({}).splitlines()
    (published_folder / "results.md").write_text("\n".join(header + [kept_row, old_row]) + "\n")
    monkeypatch.setattr(plot, "PUBLISHED", published_folder)
    (run,) = grid.build_grid(
        grid.argparse.Namespace(preset="published", algos=["ddpg"], env_ids=["Pendulum-v1"], seeds=[1], extra=[])
    )
    smoke = dict(run.settings, flags=["--total-timesteps", "600"])
    fake_finished_run(tmp_path / "grid" / run.name, smoke)
    argv = ["plot.py", "--grid", str(tmp_path / "grid"), "--out", str(published_folder), "--no-png"]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as refused:
        plot.main()
    assert refused.value.code == (
        f"error: {tmp_path / 'grid' / run.name} was not run at the published preset's "
        f"settings, so it cannot go into {published_folder}: run `benchmarks/grid.py --preset "
        "published`, or write elsewhere with --out"
    )
    assert (published_folder / "results.md").read_text().splitlines()[2:] == [kept_row, old_row]  # untouched

    fake_finished_run(tmp_path / "grid" / run.name, run.settings)
    plot.main()
    assert f"replaced in {published_folder / 'results.md'}: Pendulum-v1/ddpg\n" in capsys.readouterr().out
    rows = (published_folder / "results.md").read_text().splitlines()[2:]
    assert rows[0] == kept_row and rows[1].startswith("| Pendulum-v1 | ddpg | 2000 | 1 | -300.0 +- 0.0 |")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_grid_on_a_local_ray_cluster(tmp_path):
    pytest.importorskip("ray", reason="Ray is optional: pip install -r benchmarks/requirements-cluster.txt")
    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent))
    port = free_port()
    started = subprocess.run(
        [
            ray_cli,
            "start",
            "--head",
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(port),
            "--num-cpus",
            "2",
            "--include-dashboard",
            "false",
            "--disable-usage-stats",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        out = tmp_path / "grid"
        result = run_grid(
            "--algos",
            "ddpg",
            "sac",
            "--env-ids",
            "Pendulum-v1",
            "--seeds",
            "1",
            "--ray-address",
            f"127.0.0.1:{port}",
            "--out",
            str(out),
            "--",
            *TINY,
            timeout=600,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "2 ok, 0 failed" in result.stdout
        for algo in ("ddpg", "sac"):  # the tasks' run folders came back into the same layout on this machine
            folder = out / "Pendulum-v1" / algo / "seed1"
            assert (folder / "done.json").exists()
            run_dir = next(p for p in folder.iterdir() if p.is_dir())
            assert (run_dir / "checkpoint.pt").exists()
            assert [step for step, _ in scalars(run_dir)["eval/episodic_return"]] == [200, 400]
            assert final_eval_from_log(folder) == pytest.approx(
                scalars(run_dir)["eval/episodic_return"][-1][1], abs=0.06
            )
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=120)
