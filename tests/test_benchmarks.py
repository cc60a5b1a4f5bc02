"""benchmarks/: the commands speed.py runs on both sides, its reading of both sides' event files, the thread
setting reaching torch, and solve.py's summary, on hand-made runs (no CleanRL needed)."""

import importlib
import json
import os
import re
import subprocess
import sys

import pytest
import torch
import tyro
from torch.utils.tensorboard import SummaryWriter

import ddpg_continuous
import dqn_discrete
import sac_continuous
from tests.helpers import REPO, assert_ok, run_main, run_script, scalars

sys.path.insert(0, str(REPO / "benchmarks"))
import grid  # noqa: E402
import settings  # noqa: E402
import solve  # noqa: E402
import speed  # noqa: E402

# CleanRL's defaults at commit fe8d8a03 (its Args dataclasses), for the settings both sides have.
CLEANRL_DEFAULTS = {
    "ddpg": dict(
        buffer_size=1_000_000,
        gamma=0.99,
        tau=0.005,
        batch_size=256,
        learning_rate=3e-4,
        exploration_noise=0.1,
        policy_frequency=2,
        hidden_sizes=(256, 256),
    ),
    "sac": dict(
        buffer_size=1_000_000,
        gamma=0.99,
        tau=0.005,
        batch_size=256,
        policy_lr=3e-4,
        q_lr=1e-3,
        policy_frequency=2,
        alpha=0.2,
        autotune=True,
        hidden_sizes=(256, 256),
    ),
    "dqn": dict(
        buffer_size=10_000,
        gamma=0.99,
        tau=1.0,
        target_network_frequency=500,
        batch_size=128,
        learning_rate=2.5e-4,
        start_e=1.0,
        end_e=0.05,
        exploration_fraction=0.5,
        train_frequency=10,
        gradient_steps=1,
        hidden_sizes=(120, 84),
        loss="mse",
        double_dqn=False,
        anneal_lr=False,
    ),
}
MODULES = {"ddpg": ddpg_continuous, "sac": sac_continuous, "dqn": dqn_discrete}


@pytest.mark.parametrize("algo", list(speed.CLEANRL))
def test_both_sides_run_the_same_settings(algo):
    s = speed.CLEANRL[algo]
    cleanrl = speed.cleanrl_command(algo, 2, "/src/cleanrl-checkout", "/venv/bin/python")
    assert cleanrl == [
        "/venv/bin/python",
        f"/src/cleanrl-checkout/cleanrl/{s['cleanrl']}",
        "--env-id",
        s["env_id"],
        "--seed",
        "2",
        "--total-timesteps",
        str(s["total"]),
        "--learning-starts",
        str(s["learning_starts"]),
        "--no-track",
        "--no-capture-video",
    ]
    ours = speed.ours_command(s, 2, "/tmp/runs")
    for flag in ["--env-id", "--seed", "--total-timesteps", "--learning-starts"]:
        assert ours[ours.index(flag) + 1] == cleanrl[cleanrl.index(flag) + 1], flag
    assert ours[ours.index("--eval-frequency") + 1] == "0"  # CleanRL evaluates nothing during training
    assert ours[ours.index("--threads") + 1] == "0"  # torch's default thread count, as the peers run
    # our flags, read by our script's own parser (defaults included), must give CleanRL's values
    args = tyro.cli(MODULES[algo].Args, args=s["ours"])
    for name, value in CLEANRL_DEFAULTS[algo].items():
        assert getattr(args, name) == value, name


@pytest.mark.parametrize("algo", list(settings.CLEANRL))
def test_benchmarks_readme_gives_cleanrl_settings_as_settings_py_has_them(algo):
    script = speed.CLEANRL[algo]["script"]
    assert f"python {script} {' '.join(settings.flags(algo))}\n" in (REPO / "benchmarks" / "README.md").read_text()


@pytest.mark.parametrize("preset", ["published", "known-good"])
def test_the_grids_published_rows_give_every_setting_an_env_preset_would_change(preset):
    modules = {"ddpg": ddpg_continuous, "sac": sac_continuous, "dqn": dqn_discrete}
    for algos, env_ids, _, flags in grid.PRESETS[preset]:
        for algo in algos:
            for env_id in env_ids:
                for name, value in modules[algo].preset_of(env_id)[1].items():
                    flag = name.replace("_", "-")
                    assert f"--{flag}" in flags or (isinstance(value, bool) and f"--no-{flag}" in flags), (
                        algo,
                        env_id,
                        name,
                    )


@pytest.mark.parametrize("name", ["grid", "plot", "solve", "speed"])
def test_every_flag_of_a_benchmark_has_help_and_shows_its_default(name, monkeypatch, capsys):
    module = importlib.import_module(name)
    monkeypatch.setattr("sys.argv", [f"{name}.py", "--help"])
    with pytest.raises(SystemExit):
        module.main()
    options = capsys.readouterr().out.split("\noptions:\n")[1]
    entries = re.split(r"\n(?=  -)", "\n" + options)[1:]  # one per flag, its help on the lines that follow
    assert len(entries) >= 3
    for entry in entries:
        assert entry.startswith("  -h, --help") or "(default:" in " ".join(entry.split()), entry


def test_settings_changes_replace_a_value_in_place():
    flags = settings.flags("ddpg", policy_frequency="1")
    assert flags.count("--policy-frequency") == 1 and flags[flags.index("--policy-frequency") + 1] == "1"
    assert flags[flags.index("--hidden-sizes") : flags.index("--hidden-sizes") + 3] == ["--hidden-sizes", "256", "256"]


def test_event_files_of_both_sides_read_the_same_way(tmp_path):
    # ours: charts/SPS every 1000 steps, warm-up included; learning from 5000, the run ending at 8000
    ours = SummaryWriter(tmp_path / "ours")
    for step, wall in [(1000, 100.0), (4000, 101.0), (5000, 102.0), (6000, 106.0), (7000, 110.0), (8000, 114.0)]:
        ours.add_scalar("charts/SPS", 1.0, step, walltime=wall)
    for i, value in enumerate(range(20)):
        ours.add_scalar("charts/episodic_return", float(value), 400 * i, walltime=100.0 + i * 0.1)
    ours.close()
    # CleanRL: charts/SPS every 100 steps after learning_starts (5100 to 5900 here)
    cleanrl = SummaryWriter(tmp_path / "cleanrl")
    for k in range(9):
        cleanrl.add_scalar("charts/SPS", 1.0, 5100 + 100 * k, walltime=50.0 + 0.5 * k)
    for value in [-100.0, -200.0, -300.0]:
        cleanrl.add_scalar("charts/episodic_return", value, 5000, walltime=50.0)
    cleanrl.close()
    # ours: 3000 steps (5000 to 8000) in 12 s; the mean of the last 10 returns, 10 to 19, is 14.5
    assert speed.event_file_figures(tmp_path / "ours", 5000) == pytest.approx({"sps": 250.0, "last10": 14.5})
    # CleanRL: 800 steps (5100 to 5900) in 4 s; fewer than 10 episodes: their mean
    assert speed.event_file_figures(tmp_path / "cleanrl", 5000) == pytest.approx({"sps": 200.0, "last10": -200.0})


def test_threads_flag_reaches_torch(tmp_path):
    for script in ["ddpg_continuous.py", "sac_continuous.py", "dqn_discrete.py"]:
        env_id = "CartPole-v1" if script == "dqn_discrete.py" else "Pendulum-v1"
        proc = run_main(
            script,
            "--env-id",
            env_id,
            "--device",
            "cpu",
            "--threads",
            "3",
            "--total-timesteps",
            "20",
            "--learning-starts",
            "10",
            "--batch-size",
            "4",
            "--eval-episodes",
            "1",
            runs_dir=tmp_path / script,
        )
        assert_ok(proc)
        assert "on cpu with 3 torch threads" in proc.stdout


def test_threads_0_keeps_torchs_own_default_in_a_fresh_process(tmp_path):
    """--threads 0 leaves torch's default (one per core), read from a fresh interpreter, not from this process, whose
    thread count other tests may have set; with no --threads a run takes one."""
    fresh = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        capture_output=True,
        text=True,
        check=True,
    )
    default = int(fresh.stdout)
    for flags, threads in [(["--threads", "0"], default), ([], 1)]:
        proc = run_script(
            "ddpg_continuous.py",
            *flags,
            "--total-timesteps",
            "20",
            "--learning-starts",
            "10",
            "--batch-size",
            "4",
            "--eval-episodes",
            "1",
            "--device",
            "cpu",
            runs_dir=tmp_path / str(threads),
        )
        assert_ok(proc)
        assert f"on cpu with {threads} torch threads" in proc.stdout


def test_solve_summary_and_verdict_on_hand_made_runs():
    runs = [
        {"seed": 1, "return": -140.0, "seconds": 30.0, "last_line": -130.0},
        {"seed": 2, "return": -160.0, "seconds": 40.0, "last_line": -170.0},
        {"seed": 3, "return": -190.0, "seconds": 20.0, "last_line": -160.0},
    ]
    ours = solve.summary(runs)
    # standard error: the deviations from -163.33 are 23.33, 3.33, -26.67; their squares sum to 1266.67, over n - 1 = 2
    # that is 633.3, whose root 25.17 over sqrt(3) is 14.53
    assert ours == {
        "returns": [-140.0, -160.0, -190.0],
        "mean": pytest.approx(-163.333, abs=1e-3),
        "worst": -190.0,
        "stderr": pytest.approx(14.53, abs=0.01),
        "median_s": 30.0,
        "fastest_s": 20.0,
        "slowest_s": 40.0,
        "last_line_mean": pytest.approx(-153.333, abs=1e-3),
        "last_lines": [-130.0, -170.0, -160.0],
    }
    zoo = solve.summary([{"seed": 1, "return": -150.0, "seconds": 100.0}])
    assert solve.verdict("ddpg", ours, zoo) == (
        "mean -163.3 < -150; worst -190.0 < -180; time 0.30x zoo's <= 0.4x; behind zoo on return"
    )
    # paired on the seeds both ran (1 and 3): ours (-140 - 190) / 2 = -165, zoo (-150 - 170) / 2 = -160
    zoo_runs = [{"seed": 1, "return": -150.0}, {"seed": 3, "return": -170.0}, {"seed": 4, "return": -100.0}]
    assert solve.on_shared_seeds(runs, zoo_runs) == "on the seeds both ran (1 3) ours -165.0, zoo -160.0: behind"
    assert solve.on_shared_seeds(runs, [{"seed": 2, "return": -170.0}]).endswith("ours -160.0, zoo -170.0: ahead")
    assert solve.on_shared_seeds(runs, [{"seed": 9, "return": -100.0}]) == "no seed run by both"


def test_solve_counts_the_dqn_seeds_at_475_or_more_on_each_side():
    ours = solve.summary([{"seed": s, "return": r, "seconds": 40.0} for s, r in enumerate([500, 475, 474.9, 500], 1)])
    zoo = solve.summary([{"seed": s, "return": r, "seconds": 80.0} for s, r in enumerate([500, 200, 480], 1)])
    assert solve.verdict("dqn", ours, None) == "ours 3 of 4 seeds at 475 or more, < 9 wanted"
    # rl-zoo3 solves 2 of its 3: matching it is the target, and ours solves 3
    assert solve.verdict("dqn", ours, zoo) == (
        "ours 3 of 4 seeds at 475 or more, rl-zoo3 2 of 3; >= 2 wanted; time 0.50x zoo's <= 0.7x; ahead on return"
    )


@pytest.mark.slow
def test_solve_scores_a_run_by_its_checkpoint_over_50_greedy_episodes(tmp_path):
    run = solve.run_ours("dqn", 3, ["--total-timesteps", "1500", "--learning-starts", "500"], None, tmp_path)
    assert run["seed"] == 3 and run["seconds"] > 0
    # the figure the run's last line printed: its final evaluation, kept in the event file too
    events = scalars(next(tmp_path.glob("*/checkpoint.pt")).parent)["eval/episodic_return"]
    assert run["last_line"] == pytest.approx(events[-1][1], abs=0.051) and events[-1][0] == 1500
    # the same checkpoint evaluated here, greedily, over 50 episodes seeded as solve.py's are
    path = next(tmp_path.glob("*/checkpoint.pt"))
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    args = dqn_discrete.Args(
        **{
            **checkpoint["args"],
            "eval_episodes": 50,
            "eval_epsilon": 0.0,
            "evaluate": str(path),
            "capture_video": False,
        }
    )
    assert run["return"] == pytest.approx(dqn_discrete.evaluate_checkpoint(args, checkpoint), abs=0.051)
    assert checkpoint["global_step"] == 1500 and checkpoint["args"]["seed"] == 3


@pytest.mark.slow
def test_solve_prints_and_writes_its_table_with_the_machine(tmp_path):
    cmd = [
        sys.executable,
        str(REPO / "benchmarks" / "solve.py"),
        "--algos",
        "dqn",
        "--seeds",
        "3",
        "--out",
        str(tmp_path / "s.json"),
        "--",
        "--total-timesteps",
        "1500",
        "--learning-starts",
        "500",
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert_ok(proc)
    result = json.loads((tmp_path / "s.json").read_text())["dqn"]
    (run,) = result["runs"]
    assert result["ours"]["returns"] == [run["return"]] and result["zoo"] is None
    assert (
        f"dqn seed 3: {run['return']:.1f} (last line {run['last_line']:.1f}) in {run['seconds']:.1f} s" in proc.stdout
    )
    assert f"| dqn, CartPole-v1 | ours | {run['return']:.1f} | {run['return']:.1f} +- nan |" in proc.stdout
    assert "our flags: --total-timesteps 1500" in proc.stdout
    # the CPU is part of the result: the same seeds give other returns on another one
    machine = json.loads((tmp_path / "s.json").read_text())["machine"]
    assert f"{os.cpu_count()} cores, {solve.cpu_model()}" in machine and f"machine: {machine};" in proc.stdout
    if os.path.exists("/proc/cpuinfo"):  # the model name is the CPU's own, read from the kernel's description
        assert (
            solve.cpu_model() != "unknown CPU" and f"model name\t: {solve.cpu_model()}" in open("/proc/cpuinfo").read()
        )


@pytest.mark.parametrize("algo,env_id", list(grid.KNOWN_GOOD))
def test_env_id_alone_gives_the_known_good_settings_the_grid_runs(algo, env_id, monkeypatch):
    module = {"ddpg": ddpg_continuous, "sac": sac_continuous, "dqn": dqn_discrete}[algo]
    monkeypatch.setattr("sys.argv", [grid.SCRIPTS[algo], "--env-id", env_id])
    alone = module.parse_args()[0]
    monkeypatch.setattr("sys.argv", [grid.SCRIPTS[algo], "--env-id", env_id, *grid.KNOWN_GOOD[(algo, env_id)]])
    assert alone == module.parse_args()[0]
    assert f"python {grid.SCRIPTS[algo]} --env-id {env_id}` |" in (REPO / "README.md").read_text()
    preset = [row for row in grid.PRESETS["known-good"] if row[1] == [env_id]]
    assert preset and preset[0][3][: len(grid.KNOWN_GOOD[(algo, env_id)])] == grid.KNOWN_GOOD[(algo, env_id)]


@pytest.mark.parametrize(
    "name,argv,package,install",
    [
        ("plot", ["--grid", "runs/grid"], "matplotlib", "pip install -r benchmarks/requirements-plot.txt"),
        (
            "grid",
            ["--preset", "smoke", "--ray-address", "auto"],
            "ray",
            "pip install -r benchmarks/requirements-cluster.txt",
        ),
    ],
)
def test_a_missing_optional_package_is_one_line_naming_its_install(name, argv, package, install, monkeypatch, tmp_path):
    module = importlib.import_module(name)
    monkeypatch.setattr("sys.argv", [f"{name}.py", *argv, "--out", str(tmp_path / "out")])
    monkeypatch.setitem(sys.modules, package, None)  # import fails, as where it is not installed
    if name == "plot":
        real_find_spec = module.importlib.util.find_spec
        monkeypatch.setattr(module.importlib.util, "find_spec", lambda n: None if n == package else real_find_spec(n))
    with pytest.raises(SystemExit) as stopped:
        module.main()
    assert isinstance(stopped.value.code, str) and "\n" not in stopped.value.code and install in stopped.value.code
