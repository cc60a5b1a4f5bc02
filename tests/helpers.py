"""What the command-line tests share: running a script, finding its run folder, reading its logs."""

import contextlib
import importlib
import io
import json
import os
import signal
import struct
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

REPO = Path(__file__).resolve().parent.parent


def run_script(
    script: str, *args: str, runs_dir: Path, timeout: float = 600, env: dict | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess:
    """Run `python SCRIPT --runs-dir RUNS_DIR ARGS...` (from the repository root unless `cwd` is given, with `env`
    added to the environment); output captured as text."""
    cmd = [sys.executable, str(REPO / script), "--runs-dir", str(runs_dir), *args]
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


@dataclass
class Ran:
    """What an in-process run of a script's main() left: the exit status it would have had, and its output."""

    returncode: int
    stdout: str
    stderr: str


def run_main(script: str, *args: str, runs_dir: Path, env: dict | None = None, cwd: Path | None = None) -> Ran:
    """`python SCRIPT --runs-dir RUNS_DIR ARGS...` run in this process: the script's main() with sys.argv set, its
    output captured, SystemExit turned into the exit status and any other exception into a traceback on stderr and
    status 1, as the interpreter would. Whatever a run changes in the process (environment variables, working folder,
    signal handlers, torch's thread count) is put back afterwards. Starting no interpreter and no torch import, it
    takes a fraction of run_script's time; run_script stays for what only a real process shows (exit status on a
    real signal, a traceback from the interpreter itself)."""
    module = importlib.import_module(script.removesuffix(".py"))
    out, err = io.StringIO(), io.StringIO()
    environ, folder, threads = dict(os.environ), os.getcwd(), torch.get_num_threads()
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    argv, code = sys.argv, 0
    try:
        os.environ.update(env or {})
        if cwd is not None:
            os.chdir(cwd)
        sys.argv = [script, "--runs-dir", str(runs_dir), *args]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                module.main()
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        sys.argv = argv
        os.chdir(folder)
        os.environ.clear()
        os.environ.update(environ)
        torch.set_num_threads(threads)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    return Ran(code, out.getvalue(), err.getvalue())


def start_script(script: str, *args: str, runs_dir: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-u", str(REPO / script), "--runs-dir", str(runs_dir), *args]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def assert_ok(proc: subprocess.CompletedProcess | Ran) -> None:
    output = f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, f"exit {proc.returncode}\n{output}"


def the_run_dir(runs_dir: Path) -> Path:
    """The one run folder a script made under runs_dir."""
    run_dirs = [p for p in runs_dir.iterdir() if p.is_dir()]
    assert len(run_dirs) == 1, f"expected one run folder in {runs_dir}, found {run_dirs}"
    return run_dirs[0]


def load_checkpoint(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=False)


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar the run's TensorBoard event files hold, as tag -> [(step, value), ...]."""
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def constant_layers(online_value: float, target_value: float) -> tuple[torch.nn.Linear, torch.nn.Linear]:
    """An online and a target Linear(2, 2) whose every weight and bias holds one value: for target-update tests."""
    online, target = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    with torch.no_grad():
        for p in online.parameters():
            p.fill_(online_value)
        for p in target.parameters():
            p.fill_(target_value)
    return online, target


def wandb_history(path: Path) -> dict[str, list[tuple[int, float]]]:
    """The scalars a W&B run file (`run-*.wandb`) holds, as key -> [(global_step, value), ...].

    The file is a LevelDB-style log: a 7-byte header, then 32 KiB blocks of chunks, each a 7-byte header (crc32,
    length, type: 1 whole, 2 first, 3 middle, 4 last) and its bytes; a whole record is one protobuf `Record`.
    """
    from wandb.proto import wandb_internal_pb2

    data, pos, pending, history = path.read_bytes(), 7, b"", {}
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's last few bytes are padding
            pos += 32768 - pos % 32768
            continue
        length, kind = struct.unpack("<HB", data[pos + 4 : pos + 7])
        pending, pos = pending + data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            items = {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            for key, value in items.items():
                if isinstance(value, (int, float)) and "global_step" in items and key != "global_step":
                    history.setdefault(key, []).append((int(items["global_step"]), float(value)))
    return history
