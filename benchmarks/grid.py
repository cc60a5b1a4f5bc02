"""Run a grid of algorithms x env ids x seeds as separate processes of our unmodified scripts.

    python benchmarks/grid.py --algos ddpg sac --env-ids Pendulum-v1 --seeds 1 2 3 4 5
    python benchmarks/grid.py --preset published                # the grid the README's results come from
    python benchmarks/grid.py --preset published --ray-address auto   # the same grid on a Ray cluster
    python benchmarks/grid.py --preset published --env-ids Hopper-v5  # one part of it
    python benchmarks/grid.py --algos dqn --env-ids CartPole-v1 --seeds 1 2 -- --total-timesteps 100000

Each run gets its own folder `{out}/{env_id}/{algo}/seed{seed}/` holding the script's run folder (TensorBoard
events, checkpoint), `log.txt`, its console output as it comes (each running segment appended), and `grid.json`, the
settings it was started with and its running segments: when each started, the seconds it ran (updated every minute),
how it ended and the code it ran (the commit that last changed the script, "+changes" if edited since). Every
`--status-every` seconds without a finished run, a line says how far each running run is. A run that exits 0 writes
`done.json` there, with its settings, resumes, running seconds and code; a rerun of the same command skips those and
resumes the others from their last checkpoint (the runs save their replay buffer in every checkpoint). A folder that
holds a run of other settings is never counted as done nor resumed, an unfinished run is not resumed with another
version of its script than its segments ran, and one that another grid is running is not run twice: the grid stops
before starting anything, naming it. SIGTERM or Ctrl-C to the grid is passed on to its runs, each of which writes
its checkpoint and stops; the grid then exits with 128 + the signal, and the same command continues. Failed runs are
listed at the end with their logs, and the command then exits 1. Flags after `--` go to every script unchanged. The
published preset writes under `runs/grid` and every other preset under `runs/grid-{preset}`, unless `--out` is
given.

Locally, `--jobs` runs go at once (default: one per core), each given `--threads` cores // jobs. With
`--ray-address`, each run is a Ray task (one CPU) that receives this repository as its working directory and
sends its run folder back, so the results land in the same layout on this machine. Ray is optional:
`pip install -r benchmarks/requirements-cluster.txt`.
"""

import argparse
import fcntl
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
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
    "halfcheetah-1m": "DDPG and SAC on HalfCheetah-v5, seeds 1-3, at the scripts' MuJoCo preset (CleanRL's settings "
    "and 1M steps): hours per run, so run it with --jobs 2 and an --out outside the work tree, and rerun it to go on",
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
    # CleanRL's settings and budget as the scripts' MuJoCo v5 preset gives them; an evaluation every 100k steps
    "halfcheetah-1m": [(["ddpg", "sac"], ["HalfCheetah-v5"], [1, 2, 3], ["--eval-frequency", "100000"])],
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
    """--out, or by default runs/grid for the published preset (and a grid of no preset), runs/grid-{preset} for the
    others: the runs of two presets never mix, since a run's folder is named by its algorithm, env id and seed."""
    default = "grid" if args.preset in (None, "published") else f"grid-{args.preset}"
    return (args.out or REPO / "runs" / default).resolve()


def saved_settings(folder: Path) -> dict | None:
    """The settings a run folder's grid.json (or, where a run finished before grid.json existed, done.json) holds."""
    for name in ["grid.json", "done.json"]:
        if (folder / name).exists():
            return json.loads((folder / name).read_text()).get("settings", {})
    return None


def code_version(script: str) -> str | None:
    """The code a running segment runs: the commit that last changed the script, and where the file differs from it
    "+changes:" and its content's git hash. None outside a git checkout."""

    def git(*command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *command], cwd=REPO, capture_output=True, text=True)

    try:
        last = git("log", "-1", "--format=%h", "--", script).stdout.strip()
        if not last:
            return None  # not a checkout, or a file git does not track
        if git("diff", "--quiet", "HEAD", "--", script).returncode == 0:
            return last
        return f"{last}+changes:{git('hash-object', script).stdout.strip()[:7]}"
    except OSError:  # no git
        return None


def check_folders(grid: list[Run], out: Path) -> None:
    """Stop, naming the folder, where one holds a run whose settings differ from those this grid would give it, or an
    unfinished run whose recorded segments ran another version of its script than this checkout holds."""
    for run in grid:
        folder = out / run.name
        saved = saved_settings(folder)
        if saved is not None and saved != run.settings:
            sys.exit(
                f"error: {folder} holds a run of other settings ({' '.join(saved.get('flags', ['?']))}): "
                "give another --out, or remove that folder"
            )
        if (folder / "done.json").exists():
            continue
        ran = {segment["code"] for segment in segments(folder) if segment.get("code")}
        here = code_version(SCRIPTS[run.algo])
        if ran and here not in ran:
            here = here or "unknown, as it is not a git checkout"
            sys.exit(
                f"error: {folder} was run with {SCRIPTS[run.algo]} of commit {', '.join(sorted(ran))}, and this "
                f"checkout's is {here}: resume from a checkout of that commit (git worktree add DIR "
                f"{sorted(ran)[0].split('+')[0]}), or give another --out"
            )


def lock(folder: Path):
    """Lock the run's folder for as long as this grid or the run's script lives (the script inherits the lock)."""
    handle = open(folder / "lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(f"error: {folder} is being run by another grid (or its script still runs): wait for it or stop it")
    return handle


RUNNING = set()  # the scripts running now, to pass a stop on to
STOP = threading.Event()  # set on SIGTERM or Ctrl-C: no further run starts
STOP_SIGNALS = []  # the signals received


def pass_on_stop(signum, _frame) -> None:
    if not STOP.is_set():
        print(f"grid: signal {signum}: each running run writes its checkpoint and stops", flush=True)
    STOP_SIGNALS.append(signum)
    STOP.set()
    for proc in list(RUNNING):
        proc.send_signal(signal.SIGTERM)


def script_env(threads: int) -> dict:
    return dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))  # numpy's BLAS too


def run_here(cmd: list[str], threads: int, log: Path) -> int:
    """Run one script in the current working directory (a Ray task's), its console output going to `log`."""
    with open(log, "w") as out:
        args = [sys.executable, "-u", *cmd, "--threads", str(threads)]
        return subprocess.run(args, env=script_env(threads), stdout=out, stderr=subprocess.STDOUT).returncode


def run_local(cmd: list[str], threads: int, log: Path, lock_fd: int, tick) -> int | None:
    """Run one script of a local grid, its console output appended to `log` as it comes, `tick` called every minute;
    None if the grid is stopping. In a session of its own, so that a Ctrl-C reaches the grid, which passes one
    SIGTERM on; the script inherits the lock on its folder."""
    with open(log, "a") as out:
        if STOP.is_set():
            return None
        proc = subprocess.Popen(
            [sys.executable, "-u", *cmd, "--threads", str(threads)],
            env=script_env(threads),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=[lock_fd],
        )
        RUNNING.add(proc)
        if STOP.is_set():  # a stop that came while it started
            proc.send_signal(signal.SIGTERM)
        try:
            while True:
                try:
                    return proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    tick()
        finally:
            RUNNING.discard(proc)


def run_segment(run: Run, folder: Path, threads: int, lock_fd: int) -> int | None:
    """One running segment of a run: its start, running seconds and exit code recorded in grid.json."""
    record = json.loads((folder / "grid.json").read_text())
    cmd = run.command(folder)
    segment = {
        "started": time.time(),
        "seconds": 0.0,
        "resumed": "--resume" in cmd,
        "exit_code": None,
        "code": code_version(cmd[0]),
    }
    record["segments"].append(segment)

    def tick() -> None:
        segment["seconds"] = round(time.time() - segment["started"], 1)
        (folder / "grid.json").write_text(json.dumps(record))

    tick()
    code = run_local(cmd, threads, folder / "log.txt", lock_fd, tick)
    segment["exit_code"] = code
    if code is None:  # never started
        record["segments"].pop()
    tick()
    return code


def start_record(run: Run, folder: Path) -> None:
    """grid.json: the run's settings, and the running segments recorded so far (check_folders has seen they match)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "grid.json").write_text(json.dumps({"settings": run.settings, "segments": segments(folder)}))


def segments(folder: Path) -> list[dict]:
    """The running segments grid.json has recorded for a run's folder."""
    if not (folder / "grid.json").exists():
        return []
    return json.loads((folder / "grid.json").read_text()).get("segments", [])


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
            start_record(run, folder)
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

        locks = {}  # held until the grid exits
        for run in todo:  # every run locked before any starts: a grid that finds one taken stops at once
            (out / run.name).mkdir(parents=True, exist_ok=True)
            locks[run.name] = lock(out / run.name)
        signal.signal(signal.SIGTERM, pass_on_stop)
        signal.signal(signal.SIGINT, pass_on_stop)

        def start(run: Run):
            folder = out / run.name
            start_record(run, folder)
            return pool.submit(run_segment, run, folder, threads, locks[run.name].fileno())

        def collect(future, run: Run) -> int:
            return future.result()

        def running() -> str:
            now = [f"{run.name} {progress(out / run.name / 'log.txt')}" for f, run in pending.items() if f.running()]
            return "running: " + ", ".join(now)

        pending = {start(run): run for run in todo}
        finish = lambda timeout: wait(list(pending), timeout=timeout, return_when=FIRST_COMPLETED)[0]  # noqa: E731

    started, failed, stopped = time.time(), [], []
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
                done = {
                    "exit_code": 0,
                    "finished": time.time(),
                    "summary": final[-1] if final else "",
                    "settings": run.settings,
                }
                ran = segments(folder)
                if ran:  # recorded on this machine (a Ray task's are not)
                    done["resumes"] = sum(segment["resumed"] for segment in ran)
                    done["seconds"] = round(sum(segment["seconds"] for segment in ran), 1)
                    done["code"] = sorted({segment.get("code") or "?" for segment in ran})
                (folder / "done.json").write_text(json.dumps(done))
                outcome = "ok"
            elif STOP.is_set() and code in (None, 128 + signal.SIGTERM):
                stopped.append(run)
                outcome = "not started" if code is None else "stopped, checkpoint written"
            else:
                failed.append(run)
                outcome = f"FAILED (exit {code})"
            print(f"[{done_count}/{len(todo)}, {elapsed / 60:.1f} min] {run.name}: {outcome}", flush=True)
    ok = len(todo) - len(failed) - len(stopped)
    print(
        f"grid finished in {(time.time() - started) / 60:.1f} min: {ok} ok, {len(failed)} failed, {len(stopped)} stopped"
    )
    for run in failed:
        print(f"  failed: {run.name}, log {out / run.name / 'log.txt'}")
    if failed:
        sys.exit(1)
    if stopped:
        print("  stopped runs go on from their checkpoints when the same command runs again")
        sys.exit(128 + STOP_SIGNALS[0])


if __name__ == "__main__":
    main()
