"""Learning curves and a results table from a grid's TensorBoard event files.

    python benchmarks/plot.py --grid runs/grid                            # writes runs/grid/plots/
    python benchmarks/plot.py --grid runs/grid --out benchmarks/results   # the published table and plots

Reads every run under `{grid}/{env_id}/{algo}/seed{seed}/` (the layout benchmarks/grid.py writes) and writes:
- `{out}/{env_id}.png`: per env, training return (mean of the last 10 episodes) and deterministic
  evaluation return against steps, one line per algorithm: the mean over seeds with a band of +- one
  standard deviation, each seed's training curve drawn thin and its evaluations as dots. Needs matplotlib
  (`pip install -r benchmarks/requirements-plot.txt`).
- `{out}/results.md`: per env and algorithm, the final deterministic evaluation return and the mean of the
  last 100 and last 10 training episodes (each: mean +- std over seeds), seeds, steps, the median wall
  time of a run (the sum of its running segments as the grid timed them; else first to last logged value), the
  code (the commit of the script, as the grid recorded it; "?" for runs before it did), and CleanRL's published
  figure where there is one.
- `{out}/runs.md`: one row per run: seed, last 100 training episodes, final evaluation, running time, resumes,
  steps/s and code.
Only finished runs (with `done.json`) are used; pass --include-unfinished to see runs in progress.
A grid run in parts builds one table: rows of an existing `results.md` for env and algorithm pairs this grid
does not hold are kept (the kept ones are listed), unless --fresh is given.

The published folder, benchmarks/results, takes only runs started with exactly the settings the grid's
`published` preset gives them (as their `grid.json` records): any other run there is refused in one line, naming
it. Writing there lists the rows and plots it replaced.
"""

import argparse
import importlib.util
import json
import sys
import warnings
from pathlib import Path

import grid  # benchmarks/grid.py: the published preset and the settings each run saved
import numpy as np
import settings  # benchmarks/settings.py: the --help format
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

# CleanRL's published figures (its docs' benchmark tables), with the setting each was measured at.
CLEANRL = {
    ("HalfCheetah-v5", "ddpg"): "10374 +- 157 (last 100, 1M steps, v4)",
    ("HalfCheetah-v5", "sac"): "9635 +- 1424 (last 100, 1M steps, v4)",
    ("Hopper-v5", "ddpg"): "1577 +- 819 (last 100, 1M steps, v4)",
    ("Hopper-v5", "sac"): "2310 +- 343 (last 100, 1M steps, v4)",
    ("CartPole-v1", "dqn"): "488.7 +- 16.1 (500k steps)",
    ("Acrobot-v1", "dqn"): "-91.5 +- 7.2 (500k steps)",
    ("Pendulum-v1", "ddpg"): "about -134 (last 10 at 15k steps)",
    ("Pendulum-v1", "sac"): "about -118 (last 10 at 15k steps)",
}


def load_run(seed_folder: Path) -> dict | None:
    """Training episodes, evaluations and wall time of the run in seed_folder, or None when it has no events."""
    run_dirs = sorted(p.parent for p in seed_folder.glob("*/events.out.tfevents.*"))
    if not run_dirs:
        return None
    events = EventAccumulator(str(run_dirs[-1]), size_guidance={"scalars": 0})
    events.Reload()
    tags = events.Tags()["scalars"]
    train = (
        [(e.step, e.value) for e in events.Scalars("charts/episodic_return")]
        if "charts/episodic_return" in tags
        else []
    )
    evals = (
        [(e.step, e.value) for e in events.Scalars("eval/episodic_return")] if "eval/episodic_return" in tags else []
    )
    times = [t for tag in tags for t in (events.Scalars(tag)[0].wall_time, events.Scalars(tag)[-1].wall_time)]
    wall = max(times) - min(times) if times else float("nan")  # first to last logged value
    done = json.loads((seed_folder / "done.json").read_text()) if (seed_folder / "done.json").exists() else {}
    ran = grid.segments(seed_folder)  # as the grid recorded them: also for a run still in progress
    codes = sorted({segment.get("code") or "?" for segment in ran}) or done.get("code") or ["?"]
    last_step = max([s for s, _ in train + evals] or [0])
    return {
        "seed": seed_folder.name.removeprefix("seed"),
        "train": np.array(train).reshape(-1, 2),
        "eval": np.array(evals).reshape(-1, 2),
        "steps": last_step,
        # the sum of its running segments as the grid timed them, not the hours between them
        "wall_s": sum(segment["seconds"] for segment in ran) if ran else done.get("seconds", wall),
        "resumes": sum(segment["resumed"] for segment in ran) if ran else done.get("resumes", 0),
        "codes": codes,  # the commit(s) of the script its segments ran
    }


PUBLISHED = Path(__file__).resolve().parent / "results"


def check_published(folder: Path, include_unfinished: bool) -> None:
    """Stop, naming the run, where a run in the grid folder was not started at the published preset's settings."""
    published = {
        run.name: run.settings
        for run in grid.build_grid(
            argparse.Namespace(preset="published", algos=None, env_ids=None, seeds=None, extra=[])
        )
    }
    for seed_folder in sorted(folder.glob("*/*/seed*")):
        if not include_unfinished and not (seed_folder / "done.json").exists():
            continue
        name = seed_folder.relative_to(folder).as_posix()
        if grid.saved_settings(seed_folder) != published.get(name):
            sys.exit(
                f"error: {seed_folder} was not run at the published preset's settings, so it cannot go into "
                f"{PUBLISHED}: run `benchmarks/grid.py --preset published`, or write elsewhere with --out"
            )


def load_grid(grid_folder: Path, include_unfinished: bool) -> dict[tuple[str, str], list[dict]]:
    """{(env_id, algo): [run, ...]} for every seed folder of the grid."""
    runs: dict[tuple[str, str], list[dict]] = {}
    for seed_folder in sorted(grid_folder.glob("*/*/seed*")):
        if not include_unfinished and not (seed_folder / "done.json").exists():
            continue
        run = load_run(seed_folder)
        if run is not None:
            env_id, algo = seed_folder.parent.parent.name, seed_folder.parent.name
            runs.setdefault((env_id, algo), []).append(run)
    return runs


def mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.1f} +- {np.std(values):.1f}"


def table(runs: dict[tuple[str, str], list[dict]]) -> str:
    lines = [
        "| env | algo | steps | seeds | final evaluation return | last 100 training episodes | "
        "last 10 training episodes | wall time per run (median) | code | CleanRL |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (env_id, algo), seeds in sorted(runs.items()):
        final_eval = [run["eval"][-1, 1] for run in seeds if len(run["eval"])]
        last100 = [run["train"][-100:, 1].mean() for run in seeds if len(run["train"])]
        last10 = [run["train"][-10:, 1].mean() for run in seeds if len(run["train"])]
        wall = np.nanmedian([run["wall_s"] for run in seeds])
        wall_text = f"{wall / 60:.1f} min" if wall >= 60 else f"{wall:.0f} s"
        code = ", ".join(sorted({code for run in seeds for code in run["codes"]}))
        lines.append(
            f"| {env_id} | {algo} | {max(run['steps'] for run in seeds)} | {len(seeds)} | "
            f"{mean_std(final_eval) if final_eval else '-'} | {mean_std(last100) if last100 else '-'} | "
            f"{mean_std(last10) if last10 else '-'} | {wall_text} | {code} | {CLEANRL.get((env_id, algo), '-')} |"
        )
    return "\n".join(lines) + "\n"


def run_table(runs: dict[tuple[str, str], list[dict]]) -> str:
    """One row per run: its last-100-episode training return, final evaluation, running time, resumes and speed."""
    lines = [
        "| env | algo | seed | steps | last 100 training episodes | final evaluation return | running time | "
        "resumes | steps/s | code |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (env_id, algo), seeds in sorted(runs.items()):
        for run in seeds:
            last100 = f"{run['train'][-100:, 1].mean():.1f}" if len(run["train"]) else "-"
            final_eval = f"{run['eval'][-1, 1]:.1f}" if len(run["eval"]) else "-"
            lines.append(
                f"| {env_id} | {algo} | {run['seed']} | {run['steps']} | {last100} | {final_eval} | "
                f"{run['wall_s'] / 3600:.2f} h | {run['resumes']} | {run['steps'] / run['wall_s']:.0f} | "
                f"{', '.join(run['codes'])} |"
            )
    return "\n".join(lines) + "\n"


def merge_tables(new: str, old: str) -> tuple[str, list[str]]:
    """`new` plus the rows of `old` whose (env, algo) `new` lacks, sorted; also the kept rows' "env/algo" names."""

    def rows(text: str) -> dict[tuple[str, str], str]:
        lines = text.strip().splitlines()[2:]  # below the header and its |---| line
        return {tuple(cell.strip() for cell in line.split("|")[1:3]): line for line in lines if line.startswith("|")}

    if old.splitlines()[:1] != new.splitlines()[:1]:
        return new, []  # another layout of columns: its rows would not line up
    new_rows, old_rows = rows(new), rows(old)
    kept = {key: line for key, line in old_rows.items() if key not in new_rows}
    merged = [line for _, line in sorted({**new_rows, **kept}.items())]
    return "\n".join(new.splitlines()[:2] + merged) + "\n", [f"{env}/{algo}" for env, algo in sorted(kept)]


def training_curve(run: dict, steps: np.ndarray) -> np.ndarray:
    """Mean of the last 10 training episodes at each of `steps` (nan before the first 10 episodes end)."""
    ends, returns = run["train"][:, 0], run["train"][:, 1]
    if len(returns) < 10:
        return np.full(len(steps), np.nan)
    running = np.convolve(returns, np.ones(10) / 10, mode="valid")
    return np.interp(steps, ends[9:], running, left=np.nan)


def step_label(steps: float, _position) -> str:
    """An axis tick's step count, short: 0, 500, 20k, 1.5M."""
    if abs(steps) >= 1e6:
        return f"{steps / 1e6:g}M"
    return f"{steps / 1e3:g}k" if abs(steps) >= 1e3 else f"{steps:g}"


def plot(runs: dict[tuple[str, str], list[dict]], out: Path) -> list[Path]:
    import matplotlib  # optional: benchmarks/requirements-plot.txt
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for env_id in sorted({env for env, _ in runs}):
        fig, (ax_train, ax_eval) = plt.subplots(1, 2, figsize=(11, 4))
        for (env, algo), seeds in sorted(runs.items()):
            if env != env_id:
                continue
            steps = np.linspace(0, max(run["steps"] for run in seeds), 200)
            curves = np.array([training_curve(run, steps) for run in seeds])
            with warnings.catch_warnings():  # steps before any seed's 10th episode are nan: left blank
                warnings.simplefilter("ignore", RuntimeWarning)
                mean, std = np.nanmean(curves, axis=0), np.nanstd(curves, axis=0)
            (line,) = ax_train.plot(steps, mean, label=f"{algo} ({len(seeds)} seed{'s' * (len(seeds) > 1)})")
            ax_train.fill_between(steps, mean - std, mean + std, alpha=0.2, color=line.get_color())
            for curve in curves:  # each seed, thin
                ax_train.plot(steps, curve, color=line.get_color(), linewidth=0.6, alpha=0.5)
            for run in seeds:  # each seed's evaluations, as dots
                ax_eval.plot(*run["eval"].T, ".", color=line.get_color(), alpha=0.5)
            eval_steps = sorted(set.intersection(*(set(run["eval"][:, 0]) for run in seeds)))
            if eval_steps:
                values = np.array([[dict(map(tuple, run["eval"]))[s] for s in eval_steps] for run in seeds])
                ax_eval.plot(eval_steps, values.mean(0), marker="o", color=line.get_color(), label=algo)
                ax_eval.fill_between(
                    eval_steps,
                    values.mean(0) - values.std(0),
                    values.mean(0) + values.std(0),
                    alpha=0.2,
                    color=line.get_color(),
                )
        ax_train.set(title=f"{env_id}: training return (last 10 episodes)", xlabel="environment steps", ylabel="return")
        ax_eval.set(title=f"{env_id}: deterministic evaluation", xlabel="environment steps", ylabel="return")
        for ax in (ax_train, ax_eval):
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(step_label))
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        path = out / f"{env_id}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=settings.HelpFormatter)
    parser.add_argument("--grid", type=Path, default=Path("runs/grid"), help="folder benchmarks/grid.py wrote")
    parser.add_argument(
        "--out",
        type=Path,
        help="folder of the table and plots; none: GRID/plots (the published "
        "ones are benchmarks/results, written only when named)",
    )
    parser.add_argument("--include-unfinished", action="store_true", help="also runs without done.json")
    parser.add_argument("--no-png", action="store_true", help="write only the table (no matplotlib needed)")
    parser.add_argument("--fresh", action="store_true", help="drop the rows of an existing results.md")
    args = parser.parse_args()
    if not args.no_png and importlib.util.find_spec("matplotlib") is None:
        sys.exit(
            "error: the plots need matplotlib: pip install -r benchmarks/requirements-plot.txt (or pass --no-png "
            "for the table alone)"
        )
    publishing = args.out is not None and args.out.resolve() == PUBLISHED
    if publishing:
        check_published(args.grid, args.include_unfinished)
    runs = load_grid(args.grid, args.include_unfinished)
    if not runs:
        sys.exit(
            f"error: no finished runs under {args.grid}: run benchmarks/grid.py first, or pass --include-unfinished"
        )
    args.out = args.out or args.grid / "plots"
    args.out.mkdir(parents=True, exist_ok=True)
    results, text, kept = args.out / "results.md", table(runs), []
    old_rows = results.read_text().splitlines()[2:] if results.exists() else []
    if results.exists() and not args.fresh:
        text, kept = merge_tables(text, results.read_text())
    results.write_text(text)
    print(text)
    (args.out / "runs.md").write_text(run_table(runs))
    print(run_table(runs))
    if kept:
        print(f"kept from the earlier {results} (not in this grid): {', '.join(kept)}")
    if publishing:
        replaced = [
            "/".join(cell.strip() for cell in line.split("|")[1:3])
            for line in old_rows
            if line not in text.splitlines()
        ]
        print(f"replaced in {results}: {', '.join(replaced) or 'no row'}")
    pngs_before = set(args.out.glob("*.png"))
    if not args.no_png:
        for path in plot(runs, args.out):
            print(f"{'replaced' if path in pngs_before else 'wrote'} {path}")


if __name__ == "__main__":
    main()
