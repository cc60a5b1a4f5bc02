"""Side-by-side speed of our scripts and the real CleanRL (and Stable-Baselines3), then where our time goes.

    # CleanRL, unmodified, from its repository (vwxyzjn/cleanrl) in a venv of its own with the gymnasium it pins:
    python -m venv /tmp/cleanrl-venv && /tmp/cleanrl-venv/bin/pip install -r benchmarks/requirements-cleanrl.txt
    python benchmarks/speed.py --cleanrl-dir CLEANRL_CHECKOUT --cleanrl-python /tmp/cleanrl-venv/bin/python \\
        [--sb3-python /tmp/sb3/bin/python]

For each algorithm, runs ours and CleanRL's script alternately (A B A B ...), each a separate process, at
CleanRL's defaults for everything both have (ours with periodic evaluation and checkpoints off, as CleanRL
does neither), and with equal thread counts: the peers run torch's default (one per core), so ours runs with
`--threads 0`, which keeps it. Both sides are measured the same way, from the wall times of their TensorBoard event files:
the training-phase steps/s is the steps between the first `charts/SPS` event at or after learning_starts and
the last one, over the wall time between them. It prints per algorithm the median of each side, their ratio,
the peak resident memory and both sides' mean return over their last 10 training episodes, per seed (so a
speed gain is never bought with learning). With --sb3-python, Stable-Baselines3 runs beside ours at its own
comparable settings (its training phase timed from inside, by a callback; final deterministic evaluations
compared).
Run it by hand on an otherwise idle machine; it is not part of the test suite.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import settings  # benchmarks/settings.py: CleanRL's settings as our flags
from solve import cpu_model  # benchmarks/solve.py
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

REPO = Path(__file__).resolve().parent.parent

# CleanRL's scripts and the settings both sides run: CleanRL's settings (benchmarks/settings.py), a short budget.
CLEANRL = {
    "ddpg": dict(
        cleanrl="ddpg_continuous_action.py",
        script="ddpg_continuous.py",
        env_id="Pendulum-v1",
        total=15_000,
        learning_starts=5_000,
        ours=settings.flags("ddpg"),
    ),
    "sac": dict(
        cleanrl="sac_continuous_action.py",
        script="sac_continuous.py",
        env_id="Pendulum-v1",
        total=12_000,
        learning_starts=5_000,
        ours=settings.flags("sac"),
    ),
    "dqn": dict(
        cleanrl="dqn.py",
        script="dqn_discrete.py",
        env_id="CartPole-v1",
        total=60_000,
        learning_starts=10_000,
        ours=settings.flags("dqn"),
    ),
}
# Stable-Baselines3 at the same work: networks, batch, buffer, learning_starts, update schedule, learning rates.
SB3 = {
    "ddpg": dict(
        script="ddpg_continuous.py",
        env_id="Pendulum-v1",
        total=15_000,
        learning_starts=5_000,
        ours=settings.flags("ddpg", policy_frequency="1"),
    ),  # SB3's DDPG updates the actor every step
    "sac": dict(
        script="sac_continuous.py",
        env_id="Pendulum-v1",
        total=10_000,
        learning_starts=5_000,
        ours=settings.flags("sac", q_lr="3e-4", policy_frequency="1"),
    ),  # SB3: one learning rate, actor every step
    "dqn": dict(
        script="dqn_discrete.py",
        env_id="CartPole-v1",
        total=50_000,
        learning_starts=10_000,
        ours=settings.flags("dqn", loss="huber"),
    ),  # SB3's DQN: the Huber loss, a constant learning rate (it also clips the gradient at 10)
}


def ours_command(s: dict, seed: int, runs_dir: str, repo: Path = REPO) -> list[str]:
    return [
        sys.executable,
        str(repo / s["script"]),
        "--runs-dir",
        runs_dir,
        "--env-id",
        s["env_id"],
        "--seed",
        str(seed),
        "--total-timesteps",
        str(s["total"]),
        "--learning-starts",
        str(s["learning_starts"]),
        "--eval-frequency",
        "0",
        "--checkpoint-frequency",
        "0",
        "--threads",
        "0",
        *s["ours"],
    ]


def cleanrl_command(algo: str, seed: int, cleanrl_dir: str, python: str) -> list[str]:
    s = CLEANRL[algo]
    return [
        python,
        str(Path(cleanrl_dir) / "cleanrl" / s["cleanrl"]),
        "--env-id",
        s["env_id"],
        "--seed",
        str(seed),
        "--total-timesteps",
        str(s["total"]),
        "--learning-starts",
        str(s["learning_starts"]),
        "--no-track",
        "--no-capture-video",
    ]


def run_measured(cmd: list[str], cwd: str, env: dict | None = None) -> tuple[str, float]:
    """Run cmd to the end; its output and its peak resident memory in MiB."""
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        out.seek(0)
        text = out.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"error: {' '.join(cmd)} failed:\n{text[-2000:]}")
    return text, usage.ru_maxrss / 1024


def event_file_figures(run_dir: Path, learning_starts: int) -> dict:
    """Training-phase steps/s from the wall times of the `charts/SPS` events at or after learning_starts, and the
    mean return of the last 10 training episodes: the same reading for our event files and CleanRL's."""
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    points = [(e.step, e.wall_time) for e in events.Scalars("charts/SPS") if e.step >= learning_starts]
    if len(points) < 2:
        raise ValueError(f"{run_dir}: fewer than two charts/SPS events after step {learning_starts}")
    (first_step, first_time), (last_step, last_time) = points[0], points[-1]
    returns = [e.value for e in events.Scalars("charts/episodic_return")][-10:]
    return {"sps": (last_step - first_step) / (last_time - first_time), "last10": statistics.mean(returns)}


def run_dir_of(runs: Path) -> Path:
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    return run_dir


def run_ours(s: dict, seed: int, repo: Path = REPO) -> dict:
    with tempfile.TemporaryDirectory() as runs_dir:
        _, rss = run_measured(ours_command(s, seed, runs_dir, repo), cwd=str(repo))
        return {**event_file_figures(run_dir_of(Path(runs_dir)), s["learning_starts"]), "rss_mib": rss}


def run_cleanrl(algo: str, seed: int, cleanrl_dir: str, python: str) -> dict:
    with tempfile.TemporaryDirectory() as cwd:  # CleanRL writes runs/ into its working directory
        env = dict(os.environ, PYTHONPATH=str(Path(cleanrl_dir).resolve()))  # its scripts import cleanrl_utils
        _, rss = run_measured(cleanrl_command(algo, seed, cleanrl_dir, python), cwd=cwd, env=env)
        return {**event_file_figures(run_dir_of(Path(cwd) / "runs"), CLEANRL[algo]["learning_starts"]), "rss_mib": rss}


def run_sb3(algo: str, seed: int, python: str) -> dict:
    s = SB3[algo]
    cmd = [
        python,
        str(REPO / "benchmarks" / "sb3_peer.py"),
        "--algo",
        algo,
        "--env-id",
        s["env_id"],
        "--seed",
        str(seed),
        "--total-timesteps",
        str(s["total"]),
        "--learning-starts",
        str(s["learning_starts"]),
    ]
    text, rss = run_measured(cmd, cwd=str(REPO))
    return {**json.loads(text.strip().splitlines()[-1]), "rss_mib": rss}


def side_by_side(name: str, algos: list[str], pairs: int, ours, peer, returns: str, label: str, baseline=None) -> None:
    """Alternate ours and the peer `pairs` times per algorithm (seeds 1, 2, ...); print the table, with the
    `returns` figure of each run under `label`. With `baseline` (ours at another commit), each pair becomes a
    triple, the baseline first, and a line per algorithm sets it against the peer and ours."""
    rows, baseline_lines = [], []
    for algo in algos:
        results, baselines = [], []
        for seed in range(1, pairs + 1):
            if baseline is not None:
                baselines.append(baseline(algo, seed))
            results.append((ours(algo, seed), peer(algo, seed)))
            print(
                f"{algo} seed {seed}: ours {results[-1][0]['sps']:.0f} steps/s, {name} {results[-1][1]['sps']:.0f}",
                flush=True,
            )
        med = [statistics.median(r[side]["sps"] for r in results) for side in (0, 1)]
        if baselines:
            base = statistics.median(b["sps"] for b in baselines)
            pairs_text = ", ".join(f"{b['sps'] / r[1]['sps']:.2f}" for b, r in zip(baselines, results))
            baseline_lines.append(
                f"{algo}: baseline {base:.0f} steps/s = {base / med[1]:.2f}x {name} (triples: {pairs_text}); "
                f"ours / baseline {med[0] / base:.2f}; baseline {label} "
                + " ".join(f"{b[returns]:.0f}" for b in baselines)
            )
        rows.append(
            [
                algo,
                f"{med[0]:.0f}",
                f"{med[1]:.0f}",
                f"{med[0] / med[1]:.2f}",
                " / ".join(f"{max(r[side]['rss_mib'] for r in results):.0f}" for side in (0, 1)),
                *(" ".join(f"{r[side][returns]:.0f}" for r in results) for side in (0, 1)),
                ", ".join(f"{r[0]['sps']:.0f}/{r[1]['sps']:.0f}" for r in results),
            ]
        )
    print(
        f"\n| algo | ours steps/s | {name} steps/s | ours / {name} | peak RSS MiB, ours / {name} | ours {label} "
        f"(seeds 1-{pairs}) | {name} {label} | pairs, ours/{name} |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    for line in baseline_lines:
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=settings.HelpFormatter)
    parser.add_argument("--cleanrl-dir", help="a checkout of vwxyzjn/cleanrl (its cleanrl/ and cleanrl_utils/)")
    parser.add_argument("--cleanrl-python", help="python of a venv with benchmarks/requirements-cleanrl.txt")
    parser.add_argument("--sb3-python", help="python of a venv with benchmarks/requirements-sb3.txt")
    parser.add_argument("--algos", nargs="+", default=list(CLEANRL), choices=list(CLEANRL), help="algorithms to time")
    parser.add_argument("--pairs", type=int, default=3, help="A B pairs per algorithm (seeds 1, 2, ...)")
    parser.add_argument(
        "--baseline-dir",
        type=Path,
        help="a checkout of this repository at another commit, run first in each CleanRL pair (then a triple)",
    )
    args = parser.parse_args()
    if bool(args.cleanrl_dir) != bool(args.cleanrl_python):
        sys.exit("error: give --cleanrl-dir and --cleanrl-python together")

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {cpu_model()}", flush=True)
    if args.cleanrl_dir:
        print("\nOurs against CleanRL at CleanRL's settings; training phase, from event-file wall times:", flush=True)
        side_by_side(
            "CleanRL",
            args.algos,
            args.pairs,
            lambda a, seed: run_ours(CLEANRL[a], seed),
            lambda a, seed: run_cleanrl(a, seed, args.cleanrl_dir, args.cleanrl_python),
            returns="last10",
            label="last-10 training return",
            baseline=(lambda a, seed: run_ours(CLEANRL[a], seed, args.baseline_dir)) if args.baseline_dir else None,
        )
    if args.sb3_python:
        print(
            "\nOurs against Stable-Baselines3 at SB3's comparable settings; training phase; final evaluation:",
            flush=True,
        )
        side_by_side(
            "SB3",
            args.algos,
            args.pairs,
            lambda a, seed: sb3_side_ours(a, seed),
            lambda a, seed: run_sb3(a, seed, args.sb3_python),
            returns="eval_return",
            label="final evaluation",
        )


def sb3_side_ours(algo: str, seed: int) -> dict:
    """Ours at SB3's settings, with the final deterministic evaluation SB3's side reports."""
    s = SB3[algo]
    with tempfile.TemporaryDirectory() as runs_dir:
        cmd = ours_command(s, seed, runs_dir)
        _, rss = run_measured(cmd, cwd=str(REPO))
        run_dir = run_dir_of(Path(runs_dir))
        events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
        events.Reload()
        final_return = events.Scalars("eval/episodic_return")[-1].value
        return {**event_file_figures(run_dir, s["learning_starts"]), "eval_return": final_return, "rss_mib": rss}


if __name__ == "__main__":
    main()
