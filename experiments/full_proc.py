"""Process plumbing of the Fashion-MNIST driver: recorded commands, logged subprocesses, run-directory locks."""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import subprocess
import time
from pathlib import Path

from supernet.files import write_json


def record(root: Path, stage: str, command: str, **extra) -> None:
    """Remember the exact command of a stage (and e.g. the load `bench` printed) for the report. Locked:
    stages may run as parallel processes (experiments/gpu_check.sh trains every model at once)."""
    path = root / "commands.json"
    lock = os.open(root / ".commands.lock", os.O_CREAT | os.O_RDWR)  # an empty file, only locked
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.is_file() else {}
        data[stage] = {"command": command, **extra}
        write_json(path, data)
    finally:
        os.close(lock)


def run_logged(cmd: list[str], own_session: bool = False) -> str:
    """Run `cmd`, echo its stdout, return it (for the `uptime` line that `bench` prints). `own_session`:
    outside this driver's process group, which `bench` pauses when the driver is a registered long run."""
    print("$", shlex.join(cmd), flush=True)
    proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, start_new_session=own_session)
    print(proc.stdout, end="", flush=True)
    return proc.stdout


def load_line(text: str) -> str | None:
    return next((ln.strip() for ln in text.splitlines() if "load average" in ln), None)


def holds_cpu_lock(lock: str = "/work/.cpu.lock") -> bool:
    """True when this process runs under `heavy` (it inherited the shared lock's file descriptor)."""
    fds = Path("/proc/self/fd")
    return fds.is_dir() and any(os.path.realpath(f) == lock for f in fds.iterdir())


def wait_for_lock(run_dir: Path) -> None:
    """A run directory locked by a live process (e.g. the supernet started by hand): wait for it."""
    lock = run_dir / ".lock"
    while lock.is_file():
        try:
            pid = json.loads(lock.read_text())["pid"]
            os.kill(pid, 0)
        except (OSError, ValueError, KeyError, TypeError):
            return
        print(f"{run_dir} is being trained by pid {pid}; waiting (checked every 60 s)", flush=True)
        time.sleep(60)
