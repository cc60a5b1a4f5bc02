"""benchmarks/: the commands speed.py runs on both sides, its reading of both sides' event files, the thread
setting reaching torch, and breakdown.py's bound at the floor, on hand-made timings (no CleanRL needed)."""

import importlib
import json
import os
import re
import statistics
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch
import tyro
from torch.utils.tensorboard import SummaryWriter

import ddpg_continuous
import dqn_discrete
import sac_continuous
from tests.helpers import REPO, assert_ok, run_main, run_script, scalars, the_run_dir

sys.path.insert(0, str(REPO / "benchmarks"))
import breakdown  # noqa: E402
import grid  # noqa: E402
import pendulum_ceiling as pc  # noqa: E402
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


@pytest.mark.parametrize("algo", list(breakdown.SETTINGS))
def test_breakdown_times_the_training_cleanrl_settings_give(algo):
    # the phases timed and the floor's update cycle use the settings speed.py runs, not the scripts' defaults
    args = breakdown.cleanrl_args(algo, total_timesteps=8000)
    for name, value in CLEANRL_DEFAULTS[algo].items():
        assert getattr(args, name) == value, name
    assert args.total_timesteps == 8000 and args.env_id == breakdown.SETTINGS[algo]["env_id"]
    _, steps_per_cycle = breakdown.update_cycle(algo)
    assert steps_per_cycle == {"ddpg": 2, "sac": 2, "dqn": 10}[algo]  # env steps per cycle: CleanRL's schedule


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


@pytest.mark.parametrize("name", ["breakdown", "grid", "pendulum_ceiling", "plot", "solve", "speed"])
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


def test_steps_per_second_at_the_floor_replace_the_update_by_its_floor():
    # a run of 1000 warm-up and 4000 training steps: 2.5 ms per training step (400/s, 10 s), 2.0 of it update;
    # the whole run took 5000 / 416.66.. = 12 s, so the warm-up took 2 s
    timing = {
        "steps_per_s": 400.0,
        "whole_run": 5000 / 12,
        "ms_per_step": {"env step": 0.3, "update": 2.0, "other": 0.2},
    }
    # at a floor of 1.1 ms a training step takes 0.3 + 1.1 + 0.2 = 1.6 ms: 625 steps/s
    assert breakdown.steps_per_s_at_floor(timing, 1.1, "training", 1000, 4000) == pytest.approx(625.0)
    # the whole run: 2 s of warm-up, then 4000 x 1.6 ms = 6.4 s: 5000 steps in 8.4 s
    assert breakdown.steps_per_s_at_floor(timing, 1.1, "whole run", 1000, 4000) == pytest.approx(5000 / 8.4)


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


def test_pendulum_ceiling_grid_interpolates_bilinearly_and_wraps_the_angle():
    grid = pc.Grid(4, 3)  # angles -pi, -pi/2, 0, pi/2; speeds -8, 0, 8; flat index = angle * 3 + speed
    values = np.arange(12.0)
    on_point = grid.corners(np.array([0.0]), np.array([8.0]))  # angle index 2, speed index 2: value 8
    assert pc.interpolate(values, *on_point)[0] == pytest.approx(8.0)
    # halfway between angles 0 and pi/2 and between speeds 0 and 8: the mean of values 7, 8, 10, 11
    assert pc.interpolate(values, *grid.corners(np.array([np.pi / 4]), np.array([4.0])))[0] == pytest.approx(9.0)
    # 3 pi / 4 lies between pi/2 (index 3) and pi = -pi (index 0): speed 0 there holds 10 and 1
    assert pc.interpolate(values, *grid.corners(np.array([3 * np.pi / 4]), np.array([0.0])))[0] == pytest.approx(5.5)
    assert pc.interpolate(values, *grid.corners(np.array([3 * np.pi / 4 - 2 * np.pi]), np.array([0.0])))[
        0
    ] == pytest.approx(5.5)


def test_pendulum_ceiling_tables_on_values_worked_out_by_hand():
    grid = pc.Grid(4, 3)
    tables = pc.value_tables(grid, np.array([-2.0, 0.0, 2.0]), horizon=2)
    v1 = tables[1].reshape(4, 3)
    # one step to go: the reward alone, best with no torque: -(angle^2 + 0.1 speed^2)
    assert v1[2, 1] == 0.0 and v1[3, 2] == pytest.approx(-(np.pi**2 / 4 + 6.4))
    assert v1[0, 0] == pytest.approx(-(np.pi**2 + 6.4))  # -pi is normalized to -pi, not to pi: the same square
    # two steps to go from upright at rest: no torque keeps it there, 0 + 0
    assert tables[2].reshape(4, 3)[2, 1] == 0.0
    # with the one torque -2: from pi/2 at rest, speed 0.05 (15 sin(pi/2) - 3 * 2) = 0.45, angle pi/2 + 0.05 * 0.45;
    # V_1 there is bilinear between (pi/2, 0), (pi/2, 8), (pi, 0), (pi, 8), each -(angle^2 + 0.1 speed^2 + 0.004)
    tables = pc.value_tables(grid, np.array([-2.0]), horizon=2)
    wx, wy = 0.0225 / (np.pi / 2), 0.45 / 8
    corner = {(a, s): -(a**2 + 0.1 * s**2 + 0.004) for a in (np.pi / 2, np.pi) for s in (0, 8)}
    v1_next = (
        (1 - wx) * (1 - wy) * corner[np.pi / 2, 0]
        + (1 - wx) * wy * corner[np.pi / 2, 8]
        + wx * (1 - wy) * corner[np.pi, 0]
        + wx * wy * corner[np.pi, 8]
    )
    assert tables[2].reshape(4, 3)[3, 1] == pytest.approx(-(np.pi**2 / 4 + 0.004) + v1_next, rel=1e-12)


def test_pendulum_ceiling_controller_swings_up_and_its_tables_predict_its_returns():
    grid, torques = pc.Grid(201, 161), np.linspace(-2.0, 2.0, 21)
    tables = pc.value_tables(grid, torques)
    played, predicted = [], []
    for i in range(8):
        played.append(pc.play(tables, grid, torques, 1_000_000 + i))
        env = gym.make("Pendulum-v1")
        env.reset(seed=1_000_000 + i)
        theta, theta_dot = env.unwrapped.state  # V_200 at the start state: what the tables expect the episode to get
        predicted.append(pc.interpolate(tables[-1], *grid.corners(np.array([theta]), np.array([theta_dot])))[0])
    # the tables predict the real env's returns, except from starts near the line between swinging up one way or
    # the other, where interpolating V across its kink is optimistic (2 of these 8 on this grid, by 6 and 30)
    assert sum(abs(p - q) < 1.0 for p, q in zip(played, predicted)) >= 6
    # a swing-up from anywhere: the best these starts allow is -115 to -222; with no torque they score -863 to -1518
    assert statistics.mean(played) > -170 and min(played) > -240
    # with one step to go the future no longer counts, so the controller spends no torque; from hanging at rest
    # with the whole episode ahead it pushes as hard as it may, to start the swing-up
    hanging = np.array([-1.0, 0.0, 0.0], dtype=np.float32)  # cos, sin, speed of theta = pi
    assert [pc.act(tables, grid, torques, obs, 1) for obs in (hanging, np.float32([0.6, 0.8, 3.0]))] == [0.0, 0.0]
    assert abs(pc.act(tables, grid, torques, hanging, 200)) == 2.0


@pytest.mark.parametrize("script", ["ddpg_continuous.py", "sac_continuous.py"])
def test_pendulum_ceiling_plays_a_checkpoint_as_its_script_evaluates_it(tmp_path, script):
    assert_ok(
        run_main(
            script,
            "--total-timesteps",
            "300",
            "--learning-starts",
            "200",
            "--eval-frequency",
            "0",
            "--hidden-sizes",
            "64",
            "64",
            runs_dir=tmp_path,
        )
    )
    path = the_run_dir(tmp_path) / "checkpoint.pt"
    played = pc.checkpoint_returns(str(path), 7, 3)
    proc = run_main(script, "--evaluate", str(path), "--seed", "7", "--eval-episodes", "3", runs_dir=tmp_path)
    assert_ok(proc)
    assert f"return {statistics.mean(played):.1f} +-" in proc.stdout  # the same 3 episodes as --evaluate plays
    # an actor whose output layer is all zeros acts tanh(0) = 0, the middle of [-2, 2]: upright at rest, no torque
    # keeps the pendulum there, so it scores exactly 0 and ends at angle 0
    checkpoint = torch.load(path, weights_only=False)
    weights = checkpoint["actor"]
    last = (
        "mean"
        if "mean.weight" in weights
        else max((k.rsplit(".", 1)[0] for k in weights if k.startswith("net.")), key=lambda k: int(k.split(".")[1]))
    )
    weights[f"{last}.weight"].zero_()
    weights[f"{last}.bias"].zero_()
    torch.save(checkpoint, tmp_path / "zero.pt")
    assert pc.return_from_upright(str(tmp_path / "zero.pt")) == (0.0, 0.0)
    weights[f"{last}.bias"].fill_(0.1)  # a constant torque 2 tanh(0.1) = 0.2 tips it over: far from 0
    torch.save(checkpoint, tmp_path / "push.pt")
    assert pc.return_from_upright(str(tmp_path / "push.pt"))[0] < -100
    checkpoint["args"]["env_id"] = "MountainCarContinuous-v0"  # another env's policy has no Pendulum ceiling
    torch.save(checkpoint, tmp_path / "other.pt")
    with pytest.raises(SystemExit, match="holds a MountainCarContinuous-v0 policy.*give a Pendulum-v1 checkpoint"):
        pc.checkpoint_returns(str(tmp_path / "other.pt"), 7, 3)


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
