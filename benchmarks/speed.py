"""Side-by-side speed of our scripts and Stable-Baselines3 at identical settings, then where our time goes.

    python -m venv /tmp/sb3 && /tmp/sb3/bin/pip install -r benchmarks/requirements-sb3.txt
    python benchmarks/speed.py --sb3-python /tmp/sb3/bin/python

For each algorithm, runs ours and the peer alternately (A B A B ...) as separate processes on this
machine, then prints per side the median training-phase steps/s (from learning_starts to the end),
the ratio, the peak resident memory and the final deterministic evaluation returns. It then runs
benchmarks/breakdown.py: our steps/s at CleanRL's settings beside CleanRL's reference figure, the time
per phase of a training step, and the update's time against its matrix-multiply floor. Run it by hand
on an otherwise idle machine; it is not part of the test suite.
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

import breakdown  # benchmarks/breakdown.py: where a step's time goes, and the update's floor
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

REPO = Path(__file__).resolve().parent.parent

# The same work on both sides: networks, batch, buffer, learning_starts, update schedule, Adam's learning rates.
SETTINGS = {
    "ddpg": dict(script="ddpg_continuous.py", env_id="Pendulum-v1", total=15_000, learning_starts=5_000,
                 ours=[]),  # policy_frequency 1: SB3's DDPG updates the actor every step
    "sac": dict(script="sac_continuous.py", env_id="Pendulum-v1", total=10_000, learning_starts=5_000,
                ours=["--q-lr", "3e-4", "--policy-frequency", "1"]),  # SB3: one learning rate, actor every step
    "dqn": dict(script="dqn_discrete.py", env_id="CartPole-v1", total=50_000, learning_starts=10_000,
                ours=["--loss", "huber"]),  # SB3's DQN uses the Huber loss
}


def run_measured(cmd: list[str]) -> tuple[str, float]:
    """Run cmd to the end; its stdout and its peak resident memory in MiB."""
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        out.seek(0)
        text = out.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"error: {' '.join(cmd)} failed:\n{text[-2000:]}")
    return text, usage.ru_maxrss / 1024


def run_ours(algo: str, seed: int) -> dict:
    s = SETTINGS[algo]
    with tempfile.TemporaryDirectory() as runs_dir:
        cmd = [sys.executable, s["script"], "--runs-dir", runs_dir, "--env-id", s["env_id"], "--seed", str(seed),
               "--total-timesteps", str(s["total"]), "--learning-starts", str(s["learning_starts"]),
               "--log-frequency", "1000", "--eval-frequency", "0", "--checkpoint-frequency", "0", *s["ours"]]
        text, rss = run_measured(cmd)
        run_dir = next(Path(runs_dir).iterdir())
        events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
        events.Reload()
        # steps/s of each 1000-step interval after learning_starts: the phase's rate is their harmonic mean
        rates = [e.value for e in events.Scalars("charts/SPS") if e.step > s["learning_starts"]]
        final_return = events.Scalars("eval/episodic_return")[-1].value
    return {"sps": statistics.harmonic_mean(rates), "eval_return": final_return, "rss_mib": rss}


def run_peer(algo: str, seed: int, python: str) -> dict:
    s = SETTINGS[algo]
    cmd = [python, str(REPO / "benchmarks" / "sb3_peer.py"), "--algo", algo, "--env-id", s["env_id"],
           "--seed", str(seed), "--total-timesteps", str(s["total"]), "--learning-starts", str(s["learning_starts"])]
    text, rss = run_measured(cmd)
    return {**json.loads(text.strip().splitlines()[-1]), "rss_mib": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sb3-python", help="python of a venv with benchmarks/requirements-sb3.txt "
                                             "(without it, only the breakdown and the floor are measured)")
    parser.add_argument("--algos", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--pairs", type=int, default=3, help="A B pairs per algorithm (seeds 1, 2, ...)")
    args = parser.parse_args()

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {cpu_model()}", flush=True)
    if args.sb3_python:
        side_by_side(args.algos, args.pairs, args.sb3_python)
    breakdown.report(args.algos)


def cpu_model() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


def side_by_side(algos: list[str], pairs: int, sb3_python: str) -> None:
    rows = []
    for algo in algos:
        ours, peer = [], []
        for pair in range(pairs):
            ours.append(run_ours(algo, seed=pair + 1))
            peer.append(run_peer(algo, seed=pair + 1, python=sb3_python))
            print(f"{algo} pair {pair + 1}: ours {ours[-1]['sps']:.0f} steps/s, SB3 {peer[-1]['sps']:.0f} steps/s",
                  flush=True)
        med_ours = statistics.median(r["sps"] for r in ours)
        med_peer = statistics.median(r["sps"] for r in peer)
        rows.append((algo, SETTINGS[algo]["env_id"], med_ours, med_peer, med_ours / med_peer,
                     max(r["rss_mib"] for r in ours), max(r["rss_mib"] for r in peer),
                     " ".join(f"{r['eval_return']:.0f}" for r in ours), " ".join(f"{r['eval_return']:.0f}" for r in peer)))

    print("\n| algo | env | ours steps/s | SB3 steps/s | ours / SB3 | ours peak RSS MiB | SB3 peak RSS MiB "
          "| ours final eval | SB3 final eval |")
    print("|---|---|---|---|---|---|---|---|---|")
    for algo, env_id, so, sp, ratio, ro, rp, eo, ep in rows:
        print(f"| {algo} | {env_id} | {so:.0f} | {sp:.0f} | {ratio:.2f} | {ro:.0f} | {rp:.0f} | {eo} | {ep} |")


if __name__ == "__main__":
    main()
