"""How fast the default runs solve their env, over many seeds, beside rl-baselines3-zoo's tuned runs.

    python benchmarks/solve.py --zoo-python /tmp/zoo/bin/python           # the full table (about 25 minutes)
    python benchmarks/solve.py --algos dqn --seeds 1 2 3                   # part of it, without the peer
    python benchmarks/solve.py --algos ddpg --jobs 2 -- --gamma 0.97       # trying settings: flags after --

Ours: each script run with no flags but `--seed` (and its run folder), timed from start to exit; the figure its
last line prints (its final evaluation, over the default 10 episodes; DQN's with epsilon 0.05, as CleanRL's) is
kept; then its final checkpoint evaluated with `--evaluate` over 50 episodes, deterministic (DQN greedy:
`--eval-epsilon 0`), the episodes seeded seed + 1000000 + i. The peer: `python -m rl_zoo3.train --algo A --env E --seed S`, rl-zoo3's own
hyperparameter file for the env, timed the same way; its saved model evaluated by `zoo_peer.py` with the same
episodes. `--zoo-python` is the Python of a venv holding benchmarks/requirements-zoo.txt. Returns are compared
twice: the means over all seeds each side ran, and paired, over the seeds both ran (the same episodes). For DQN
the verdict counts the seeds whose 50 greedy episodes average 475 or more (CartPole's "solved"), on each side.

Wall times count only with `--jobs 1` on an otherwise idle machine (runs are timed one at a time, each with the
default threads); `--jobs 2` runs seeds two at a time with `--threads 1`, for trying settings, and says so.
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import settings  # benchmarks/settings.py: the --help format

REPO = Path(__file__).resolve().parent.parent
TASKS = {  # algo: (script, env id, zoo's algo name, the targets of the issue: mean, worst, wall-time ratio to zoo)
    "ddpg": ("ddpg_continuous.py", "Pendulum-v1", "ddpg", {"mean": -150, "worst": -180, "time_ratio": 0.4}),
    "sac": ("sac_continuous.py", "Pendulum-v1", "sac", {"mean": -150, "worst": -180, "time_ratio": 0.25}),
    "dqn": (
        "dqn_discrete.py",
        "CartPole-v1",
        "dqn",
        {"mean": None, "worst": None, "solved": (475, 9), "time_ratio": 0.7},
    ),
}
EVAL_EPISODES = 50


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else "unknown CPU"."""
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, str]:
    """Run cmd from the repository root; its wall time in seconds and its output. A failed run stops the benchmark."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return seconds, proc.stdout


def run_ours(algo: str, seed: int, extra: list[str], threads: int | None, folder: Path) -> dict:
    script, env_id, _, _ = TASKS[algo]
    thread_flags = ["--threads", str(threads)] if threads else []
    env = dict(os.environ, OMP_NUM_THREADS=str(threads)) if threads else None
    seconds, trained = timed(
        [sys.executable, script, "--seed", str(seed), "--runs-dir", str(folder), *thread_flags, *extra], env
    )
    last_line = float(re.search(r"final evaluation return (-?[\d.]+) over", trained).group(1))
    checkpoint = next(folder.glob("*/checkpoint.pt"))
    greedy = ["--eval-epsilon", "0"] if algo == "dqn" else []
    _, out = timed(
        [
            sys.executable,
            script,
            "--evaluate",
            str(checkpoint),
            "--seed",
            str(seed),
            "--eval-episodes",
            str(EVAL_EPISODES),
            *greedy,
            *thread_flags,
        ],
        env,
    )
    return {
        "seed": seed,
        "return": float(re.search(r"return (-?[\d.]+) \+-", out).group(1)),
        "seconds": seconds,
        "last_line": last_line,
    }


def run_zoo(algo: str, seed: int, python: str, folder: Path) -> dict:
    _, env_id, zoo_algo, _ = TASKS[algo]
    seconds, _ = timed(
        [python, "-m", "rl_zoo3.train", "--algo", zoo_algo, "--env", env_id, "--seed", str(seed), "-f", str(folder)]
    )
    model = next(folder.glob(f"{zoo_algo}/{env_id}_*/{env_id}.zip"))
    _, out = timed(
        [
            python,
            str(REPO / "benchmarks" / "zoo_peer.py"),
            "--algo",
            zoo_algo,
            "--model",
            str(model),
            "--env-id",
            env_id,
            "--seed",
            str(seed),
            "--episodes",
            str(EVAL_EPISODES),
        ]
    )
    return {"seed": seed, "return": json.loads(out)["return"], "seconds": seconds}


def summary(runs: list[dict]) -> dict:
    returns, seconds = [r["return"] for r in runs], [r["seconds"] for r in runs]
    last_lines = [r["last_line"] for r in runs if "last_line" in r]
    return {
        "returns": returns,
        "mean": statistics.mean(returns),
        "worst": min(returns),
        "stderr": statistics.stdev(returns) / len(returns) ** 0.5 if len(returns) > 1 else float("nan"),
        "median_s": statistics.median(seconds),
        "fastest_s": min(seconds),
        "slowest_s": max(seconds),
        "last_line_mean": statistics.mean(last_lines) if last_lines else None,
        "last_lines": last_lines,
    }


def on_shared_seeds(our_runs: list[dict], zoo_runs: list[dict]) -> str:
    """Both means over the seeds both ran: the same evaluation episodes, so unlike the means over all seeds
    (whose episodes differ in difficulty), a paired comparison."""
    zoo_by_seed = {r["seed"]: r["return"] for r in zoo_runs}
    pairs = [(r["return"], zoo_by_seed[r["seed"]]) for r in our_runs if r["seed"] in zoo_by_seed]
    if not pairs:
        return "no seed run by both"
    seeds = " ".join(str(r["seed"]) for r in our_runs if r["seed"] in zoo_by_seed)
    ours, zoo = (statistics.mean(side) for side in zip(*pairs))
    return f"on the seeds both ran ({seeds}) ours {ours:.1f}, zoo {zoo:.1f}: {'ahead' if ours > zoo else 'behind'}"


def solved(s: dict, threshold: float) -> int:
    return sum(r >= threshold for r in s["returns"])


def verdict(algo: str, ours: dict, zoo: dict | None) -> str:
    target = TASKS[algo][3]
    checks = []
    if target["mean"] is not None:
        checks.append(f"mean {ours['mean']:.1f} {'>=' if ours['mean'] >= target['mean'] else '<'} {target['mean']}")
    if target["worst"] is not None:
        checks.append(
            f"worst {ours['worst']:.1f} {'>=' if ours['worst'] >= target['worst'] else '<'} {target['worst']}"
        )
    if "solved" in target:
        threshold, wanted = target["solved"]
        if (
            zoo
        ):  # at least as many as the peer; where the peer itself solves fewer than wanted, matching it is the target
            wanted = min(wanted, solved(zoo, threshold))
        n = solved(ours, threshold)
        checks.append(
            f"ours {n} of {len(ours['returns'])} seeds at {threshold} or more, "
            + (f"rl-zoo3 {solved(zoo, threshold)} of {len(zoo['returns'])}; " if zoo else "")
            + f"{'>=' if n >= wanted else '<'} {wanted} wanted"
        )
    if zoo:
        ratio = ours["median_s"] / zoo["median_s"]
        checks.append(
            f"time {ratio:.2f}x zoo's {'<=' if ratio <= target['time_ratio'] else '>'} {target['time_ratio']}x"
        )
        checks.append("ahead on return" if ours["mean"] > zoo["mean"] else "behind zoo on return")
    return "; ".join(checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=settings.HelpFormatter)
    parser.add_argument("--algos", nargs="+", choices=list(TASKS), default=list(TASKS), help="algorithms to run")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(1, 11)), help="seeds of our runs")
    parser.add_argument("--zoo-python", help="Python of a venv with benchmarks/requirements-zoo.txt; none: no peer")
    parser.add_argument("--zoo-seeds", nargs="+", type=int, default=[1, 2, 3], help="seeds of rl-zoo3's runs")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once; above 1 the wall times do not count")
    parser.add_argument("--out", help="also write the figures to this JSON file")
    parser.add_argument("extra", nargs="*", help="flags after -- go to each of our runs (then no longer defaults)")
    args = parser.parse_args()
    threads = 1 if args.jobs > 1 else None
    results = {}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        for algo in args.algos:
            folders = [Path(tmp, algo, f"seed{seed}") for seed in args.seeds]
            ours = list(
                pool.map(lambda s, f, algo=algo: run_ours(algo, s, args.extra, threads, f), args.seeds, folders)
            )
            for run in ours:
                print(
                    f"{algo} seed {run['seed']}: {run['return']:.1f} (last line {run['last_line']:.1f}) in "
                    f"{run['seconds']:.1f} s",
                    flush=True,
                )
            zoo = []
            for seed in args.zoo_seeds if args.zoo_python else []:  # one at a time, as rl-zoo3 is run by its users
                zoo.append(run_zoo(algo, seed, args.zoo_python, Path(tmp, "zoo", algo, f"seed{seed}")))
                print(f"{algo} rl-zoo3 seed {seed}: {zoo[-1]['return']:.1f} in {zoo[-1]['seconds']:.1f} s", flush=True)
            results[algo] = {"ours": summary(ours), "zoo": summary(zoo) if zoo else None, "runs": ours, "zoo_runs": zoo}

    # returns, not only times, depend on the CPU: the same seeds and packages gave other returns on another one
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {cpu_model()}"
    print(
        f"\nmachine: {machine}; {EVAL_EPISODES} evaluation episodes per run; wall time from start to exit"
        + (f"; {args.jobs} runs at once with --threads 1: the times are not comparable" if args.jobs > 1 else "")
        + (f"; our flags: {' '.join(args.extra)}" if args.extra else "; our runs at their defaults")
    )
    print(
        "| algo, env | who | returns (50 episodes) | mean +- s.e. | worst | last line, mean (10 episodes) | "
        "wall time median (fastest, slowest) |"
    )
    print("|---|---|---|---|---|---|---|")
    for algo, result in results.items():
        for who, s in (("ours", result["ours"]), ("rl-zoo3", result["zoo"])):
            if s:
                last_line = "-" if s["last_line_mean"] is None else f"{s['last_line_mean']:.1f}"
                print(
                    f"| {algo}, {TASKS[algo][1]} | {who} | {' '.join(f'{r:.1f}' for r in s['returns'])} | "
                    f"{s['mean']:.1f} +- {s['stderr']:.1f} | {s['worst']:.1f} | {last_line} | "
                    f"{s['median_s']:.1f} s ({s['fastest_s']:.1f}, {s['slowest_s']:.1f}) |"
                )
    for algo, result in results.items():
        paired = f"; {on_shared_seeds(result['runs'], result['zoo_runs'])}" if result["zoo"] else ""
        print(f"{algo}: {verdict(algo, result['ours'], result['zoo'])}{paired}")
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": machine, **results}, indent=1))


if __name__ == "__main__":
    main()
