"""This machine's processes from /proc, for tests that check what a run leaves running (Linux only)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def cmdline(pid: int) -> str:
    """The command line of `pid`, arguments joined by spaces; "" once it has exited."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, parent pid, ...); None once gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process now."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := stat_fields(int(entry))) is not None:
            found[int(entry)] = (int(fields[1]), cmdline(int(entry)))
    return found


def descendants(*roots: int, procs: dict[int, tuple[int, str]] | None = None) -> list[int]:
    """Descendants of the `roots` now (or in the `processes()` table `procs`), children first."""
    parents = {p: parent for p, (parent, _) in (processes() if procs is None else procs).items()}
    found, frontier = [], list(roots)
    while frontier:
        kids = [p for p, parent in parents.items() if parent in frontier and p not in found]
        found += kids
        frontier = kids
    return found


def gone(pids: list[int], seconds: float) -> bool:
    """True once none of `pids` runs (exited, or a zombie), polling for up to `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all((fields := stat_fields(p)) is None or fields[0] == "Z" for p in pids):
            return True
        time.sleep(0.1)
    return False
