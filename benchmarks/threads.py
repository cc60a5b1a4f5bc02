"""How runs sharing this machine do with --threads 0 (the default), one thread per core, and --threads 1.

    python benchmarks/threads.py                          # DDPG on Pendulum: 1, 2 and 4 runs at once
    python benchmarks/threads.py --busy 1                 # one run beside one CPU-bound process
    python benchmarks/threads.py --script sac_continuous.py --seconds 60

For each number of runs and each thread setting, starts that many runs of the script at once (seeds 1, 2, ...),
beside --busy processes that only spin, lets them train for --seconds, stops them with SIGTERM (each writes its
checkpoint and exits), and reads each run's training-phase steps/s from its event file as benchmarks/speed.py does.
Prints each run's rate and their total. Run it by hand on an otherwise idle machine; it is not part of the tests.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import speed  # benchmarks/speed.py: the event-file reading both sides share

REPO = Path(__file__).resolve().parent.parent
LEARNING_STARTS = 256  # one batch: random warm-up steps use no torch, so every run is soon in its training phase


def measure(script: str, env_id: str, runs: int, threads: int, seconds: float, busy: int = 0) -> list[float]:
    """Training-phase steps/s of each of `runs` runs started together beside `busy` spinning processes, after
    `seconds` of wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
        procs = []
        for seed in range(1, runs + 1):
            cmd = [sys.executable, str(REPO / script), "--env-id", env_id, "--seed", str(seed), "--runs-dir",
                   f"{tmp}/{seed}", "--total-timesteps", "10000000", "--learning-starts", str(LEARNING_STARTS),
                   "--log-frequency", "20", "--eval-frequency", "0", "--checkpoint-frequency", "0"]
            cmd += ["--threads", str(threads)]
            procs.append(subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        time.sleep(seconds)
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait()
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
        rates = []
        for seed in range(1, runs + 1):
            try:
                rates.append(speed.event_file_figures(speed.run_dir_of(Path(f"{tmp}/{seed}")), LEARNING_STARTS)["sps"])
            except (ValueError, StopIteration):
                rates.append(0.0)  # never two log lines into its training phase
        return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=speed.settings.HelpFormatter)
    parser.add_argument("--script", default="ddpg_continuous.py", help="the script to run")
    parser.add_argument("--env-id", default="Pendulum-v1", help="its env")
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 2, 4], help="runs at once, one set each")
    parser.add_argument("--busy", type=int, default=0, help="CPU-bound processes that spin beside the runs")
    parser.add_argument("--seconds", type=float, default=40.0, help="wall time each set of runs trains for")
    args = parser.parse_args()
    print(f"{args.script} on {args.env_id}, {os.cpu_count()} cores, {speed.cpu_model()}; {args.seconds:.0f} s per set, "
          f"beside {args.busy} busy processes", flush=True)
    print("| runs at once | --threads | steps/s of each run | total steps/s |")
    print("|---|---|---|---|")
    for runs in args.runs:
        for threads in [0, os.cpu_count(), 1]:
            rates = measure(args.script, args.env_id, runs, threads, args.seconds, args.busy)
            label = {0: "0 (the default: chosen as it runs)", 1: "1"}.get(threads, f"{threads} (one per core)")
            each = ", ".join(f"{rate:.0f}" for rate in rates)
            print(f"| {runs} | {label} | {each} | {sum(rates):.0f} (median run {statistics.median(rates):.0f}) |",
                  flush=True)


if __name__ == "__main__":
    main()
