"""Run a grid of algorithms x env ids x seeds as separate processes of our unmodified scripts.

    python benchmarks/grid.py --algos ddpg sac --env-ids Pendulum-v1 --seeds 1 2 3 4 5
    python benchmarks/grid.py --preset published                # the grid the README's results come from
    python benchmarks/grid.py --preset published --ray-address auto   # the same grid on a Ray cluster
    python benchmarks/grid.py --preset published --env-ids Hopper-v5  # one part of it
    python benchmarks/grid.py --algos dqn --env-ids CartPole-v1 --seeds 1 2 -- --total-timesteps 100000

Each run gets its own folder `{out}/{env_id}/{algo}/seed{seed}/` holding the script's run folder (TensorBoard
events, checkpoint), `log.txt`, its console output as it comes, and `grid.json`, the settings it was started with.
Every `--status-every` seconds without a finished run, a line says how far each running run is. A run that exits 0
writes `done.json` there, with its settings; a rerun of the same command skips those and resumes the others from
their last checkpoint. A folder that holds a run of other settings is never counted as done nor resumed: the grid
stops before starting anything, naming it. Failed runs are listed at the end with their logs, and the command then
exits 1. Flags after `--` go to every script unchanged. The smoke preset writes under `runs/grid-smoke` unless
`--out` is given, apart from the published runs in `runs/grid`.

Locally, `--jobs` runs go at once (default: one per core), each given `--threads` cores // jobs. With
`--ray-address`, each run is a Ray task (one CPU) that receives this repository as its working directory and
sends its run folder back, so the results land in the same layout on this machine. Ray is optional:
`pip install -r benchmarks/requirements-cluster.txt`.
"""

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import settings  # benchmarks/settings.py: CleanRL's settings as our flags

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = {"ddpg": "ddpg_continuous.py", "sac": "sac_continuous.py", "dqn": "dqn_discrete.py"}

# The grid behind the README's results: (algorithms, env ids, seeds, extra flags). Rows measured before the
# defaults became the fast ones pin the settings they were measured with (CleanRL's, but DDPG's actor every step).
MEASURED_WITH = {"ddpg": settings.flags("ddpg", policy_frequency="1"), "sac": settings.flags("sac")}
PENDULUM_BUDGET = ["--total-timesteps", "20000", "--learning-starts", "2000"]
DQN_BUDGET = [
    "--total-timesteps",
    "500000",
    "--learning-starts",
    "10000",
    "--eval-frequency",
    "25000",
    "--eval-epsilon",
    "0",
]
MUJOCO_BUDGET = ["--total-timesteps", "100000", "--learning-starts", "5000", "--eval-frequency", "10000"]
# Settings found for other classic-control envs (rl-baselines3-zoo's published kind of schedule, tried here)
KNOWN_GOOD = {  # as measured: at a constant learning rate (--no-anneal-lr), as the DQN of that day
    ("dqn", "Acrobot-v1"): (
        "--total-timesteps 100000 --learning-rate 6.3e-4 --batch-size 128 --buffer-size 50000 "
        "--target-network-frequency 250 --train-frequency 4 --gradient-steps 4 --exploration-fraction 0.12 "
        "--end-e 0.1 --double-dqn --no-anneal-lr"
    ).split(),
    ("dqn", "MountainCar-v0"): (
        "--total-timesteps 120000 --learning-rate 4e-3 --batch-size 128 --buffer-size 10000 --gamma 0.98 "
        "--target-network-frequency 600 --train-frequency 16 --gradient-steps 8 --exploration-fraction 0.2 "
        "--end-e 0.07 --no-anneal-lr"
    ).split(),
}
PRESET_HELP = {
    "smoke": "4 runs of 600 steps, a few seconds each on an idle machine: checks the runner, the scripts and plot.py",
    "published": "the rows of the README's published table, at the settings and budgets they were measured with",
    "known-good": "Acrobot-v1 and MountainCar-v0 at the settings the scripts' presets give them, 5 seeds each",
}
PRESETS = {
    "published": [
        (["ddpg"], ["Pendulum-v1"], [1, 2, 3, 4, 5], MEASURED_WITH["ddpg"] + PENDULUM_BUDGET),
        (["sac"], ["Pendulum-v1"], [1, 2, 3, 4, 5], MEASURED_WITH["sac"] + PENDULUM_BUDGET),
        # greedy evaluation, as when these rows were measured (the script's default is CleanRL's epsilon 0.05)
        (["dqn"], ["CartPole-v1", "Acrobot-v1"], [1, 2, 3, 4, 5], settings.flags("dqn") + DQN_BUDGET),
        (["ddpg"], ["HalfCheetah-v5", "Hopper-v5"], [1, 2, 3], MEASURED_WITH["ddpg"] + MUJOCO_BUDGET),
        (["sac"], ["HalfCheetah-v5", "Hopper-v5"], [1, 2, 3], MEASURED_WITH["sac"] + MUJOCO_BUDGET),
    ],
    # beyond the defaults: the README's known-good command lines, each run ending on 50 greedy evaluation episodes
    "known-good": [
        (
            [algo],
            [env_id],
            [1, 2, 3, 4, 5],
            flags + ["--eval-frequency", "0", "--eval-episodes", "50", "--eval-epsilon", "0"],
        )
        for (algo, env_id), flags in KNOWN_GOOD.items()
    ],
    "smoke": [  # a few seconds per run: checks that the runner, the scripts and the plot work together
        (
            ["ddpg", "sac"],
            ["Pendulum-v1"],
            [1, 2],
            [
                "--total-timesteps",
                "600",
                "--learning-starts",
                "300",
                "--batch-size",
                "32",
                "--eval-frequency",
                "300",
                "--eval-episodes",
                "1",
                "--log-frequency",
                "100",
            ],
        ),
    ],
}


@dataclass
class Run:
    algo: str
    env_id: str
    seed: int
    flags: list[str]

    @property
    def name(self) -> str:
        return f"{self.env_id}/{self.algo}/seed{self.seed}"

    @property
    def settings(self) -> dict:
        """What makes two runs the same run: saved in grid.json and done.json, compared before a skip or a resume."""
        return {"algo": self.algo, "env_id": self.env_id, "seed": self.seed, "flags": self.flags}

    def command(self, folder: Path) -> list[str]:
        """The script's command line, run from the repository root, writing under folder."""
        # --save-buffer: a run interrupted and resumed continues with its replay buffer, as if never stopped
        cmd = [
            SCRIPTS[self.algo],
            "--env-id",
            self.env_id,
            "--seed",
            str(self.seed),
            "--runs-dir",
            str(folder),
            "--save-buffer",
            *self.flags,
        ]
        checkpoints = sorted(folder.glob("*/checkpoint.pt"))
        if checkpoints:  # an interrupted earlier attempt: continue it rather than start over
            cmd += ["--resume", str(checkpoints[-1])]
        return cmd


def build_grid(args: argparse.Namespace) -> list[Run]:
    if args.preset:
        # --algos, --env-ids and --seeds given beside a preset pick a part of it (a grid run in parts)
        def pick(chosen, values):
            return [value for value in values if not chosen or value in chosen]

        rows = [
            (pick(args.algos, algos), pick(args.env_ids, env_ids), pick(args.seeds, seeds), flags + args.extra)
            for algos, env_ids, seeds, flags in PRESETS[args.preset]
        ]
    else:
        if not (args.algos and args.env_ids and args.seeds):
            sys.exit("error: give --algos, --env-ids and --seeds, or a --preset")
        rows = [(args.algos, args.env_ids, args.seeds, args.extra)]
    return [
        Run(algo, env_id, seed, list(flags))
        for algos, env_ids, seeds, flags in rows
        for env_id in env_ids
        for algo in algos
        for seed in seeds
    ]


def out_folder(args: argparse.Namespace) -> Path:
    """--out, or by default runs/grid: runs/grid-smoke for the smoke preset, whose runs never mix with published ones."""
    return (args.out or REPO / "runs" / ("grid-smoke" if args.preset == "smoke" else "grid")).resolve()


def saved_settings(folder: Path) -> dict | None:
    """The settings a run folder's grid.json (or, where a run finished before grid.json existed, done.json) holds."""
    for name in ["grid.json", "done.json"]:
        if (folder / name).exists():
            return json.loads((folder / name).read_text()).get("settings", {})
    return None


def check_folders(grid: list[Run], out: Path) -> None:
    """Stop, naming the folder, where one holds a run whose settings differ from those this grid would give it."""
    for run in grid:
        saved = saved_settings(out / run.name)
        if saved is not None and saved != run.settings:
            sys.exit(
                f"error: {out / run.name} holds a run of other settings ({' '.join(saved.get('flags', ['?']))}): "
                "give another --out, or remove that folder"
            )


def run_here(cmd: list[str], threads: int, log: Path) -> int:
    """Run one script in the current working directory, its console output going to `log` as it comes."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))  # numpy's BLAS too
    with open(log, "w") as out:
        return subprocess.run(
            [sys.executable, "-u", *cmd, "--threads", str(threads)], env=env, stdout=out, stderr=subprocess.STDOUT
        ).returncode


def progress(log: Path) -> str:
    """How far a running run is, from the last progress line in its log."""
    try:
        steps = re.findall(r"^step +(\d+)/(\d+)", log.read_text(), flags=re.MULTILINE)
    except OSError:
        steps = []
    return f"{100 * int(steps[-1][0]) // int(steps[-1][1])}%" if steps else "starting"


def pack(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=".")
    return buffer.getvalue()


def unpack(data: bytes, folder: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(folder, filter="data")


def ray_task(cmd: list[str], folder_name: str, packed_folder: bytes | None) -> tuple[int, str, bytes]:
    """Body of one Ray task: runs in a copy of the repository; returns the exit code, output and run folder."""
    folder = Path("grid-task-runs") / folder_name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if packed_folder:
        unpack(packed_folder, folder)
    cmd = [part.replace("{folder}", str(folder)) for part in cmd]
    log = folder.parent / f"{folder_name}.log"
    code = run_here(cmd, threads=1, log=log)
    output, data = log.read_text(), pack(folder)
    shutil.rmtree(folder, ignore_errors=True)
    log.unlink()
    return code, output, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=settings.HelpFormatter)
    parser.add_argument("--algos", nargs="+", choices=sorted(SCRIPTS), help="algorithms; none: the preset's")
    parser.add_argument("--env-ids", nargs="+", help="env ids; none: the preset's")
    parser.add_argument("--seeds", nargs="+", type=int, help="seeds; none: the preset's")
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), help="; ".join(f"{name}: {what}" for name, what in PRESET_HELP.items())
    )
    parser.add_argument("--out", type=Path, help="folder of the grid's runs; none: runs/grid (smoke: runs/grid-smoke)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="runs at once on this machine")
    parser.add_argument("--ray-address", help="run each run as a task on this Ray cluster ('auto': the local one)")
    parser.add_argument("--status-every", type=float, default=300, help="seconds between lines on runs in progress")
    parser.add_argument("extra", nargs="*", help="flags after -- go to every script")
    args = parser.parse_args()
    if args.jobs < 1:
        sys.exit(f"error: --jobs must be at least 1, got {args.jobs}")

    grid = build_grid(args)
    if not grid:
        sys.exit("error: --algos, --env-ids and --seeds select no run of the preset: check their spelling")
    out = out_folder(args)
    check_folders(grid, out)
    todo = [run for run in grid if not (out / run.name / "done.json").exists()]
    print(f"grid: {len(grid)} runs, {len(grid) - len(todo)} already done, {len(todo)} to run, under {out}", flush=True)

    if args.ray_address:
        try:
            import ray  # optional: benchmarks/requirements-cluster.txt
        except ImportError:
            sys.exit("error: --ray-address needs ray: pip install -r benchmarks/requirements-cluster.txt")

        ray.init(
            address=args.ray_address,
            runtime_env={"working_dir": str(REPO), "excludes": ["runs/", ".venv/", ".git/", "videos/", "*.pt"]},
        )
        remote_task = ray.remote(num_cpus=1)(ray_task)

        def launch(run: Run):
            folder = out / run.name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "grid.json").write_text(json.dumps({"settings": run.settings}))
            packed = pack(folder) if any(folder.glob("*/checkpoint.pt")) else None
            # the task writes in its own copy: replace our folder's path by a placeholder it fills in
            cmd = [part.replace(str(folder), "{folder}") for part in run.command(folder)]
            return remote_task.remote(cmd, run.name.replace("/", "__"), packed)

        def collect(ref, run: Run) -> int:
            code, output, data = ray.get(ref)
            unpack(data, out / run.name)
            (out / run.name / "log.txt").write_text(output)
            return code

        pending = {launch(run): run for run in todo}
        finish = lambda timeout: ray.wait(list(pending), num_returns=1, timeout=timeout)[0]  # noqa: E731
        running = lambda: f"{len(pending)} runs queued or running on the cluster"  # noqa: E731
    else:
        threads = max(1, (os.cpu_count() or 1) // args.jobs)
        pool = ThreadPoolExecutor(args.jobs)

        def start(run: Run):
            folder = out / run.name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "grid.json").write_text(json.dumps({"settings": run.settings}))
            return pool.submit(run_here, run.command(folder), threads, folder / "log.txt")

        def collect(future, run: Run) -> int:
            return future.result()

        def running() -> str:
            now = [f"{run.name} {progress(out / run.name / 'log.txt')}" for f, run in pending.items() if f.running()]
            return "running: " + ", ".join(now)

        pending = {start(run): run for run in todo}
        finish = lambda timeout: wait(list(pending), timeout=timeout, return_when=FIRST_COMPLETED)[0]  # noqa: E731

    started, failed = time.time(), []
    done_count = 0
    while pending:
        finished = finish(args.status_every)
        if not finished:
            print(f"[{done_count}/{len(todo)}, {(time.time() - started) / 60:.1f} min] {running()}", flush=True)
        for handle in finished:
            run = pending.pop(handle)
            code = collect(handle, run)
            done_count += 1
            elapsed = time.time() - started
            folder = out / run.name
            if code == 0:
                final = [line for line in (folder / "log.txt").read_text().splitlines() if line.startswith("done:")]
                (folder / "done.json").write_text(
                    json.dumps(
                        {
                            "exit_code": 0,
                            "finished": time.time(),
                            "summary": final[-1] if final else "",
                            "settings": run.settings,
                        }
                    )
                )
            else:
                failed.append(run)
            print(
                f"[{done_count}/{len(todo)}, {elapsed / 60:.1f} min] {run.name}: "
                f"{'ok' if code == 0 else f'FAILED (exit {code})'}",
                flush=True,
            )
    print(
        f"grid finished in {(time.time() - started) / 60:.1f} min: {len(todo) - len(failed)} ok, {len(failed)} failed"
    )
    for run in failed:
        print(f"  failed: {run.name}, log {out / run.name / 'log.txt'}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
