"""Output folders that defend themselves: one guard for where outputs may go, one lock per folder.

`check_out_dir` refuses, in one line, an output folder that is an existing file, lies under a file, or
sits on a read-only file system, before any work is done; `check_fresh_dir` also refuses a non-empty
one without `--overwrite` (for commands that cannot resume). `FolderLock` makes a folder owned by one
process at a time: a `.lock` file holding the owner's pid, host and process start time, created
exclusively. A lock whose process is gone (same host, pid dead or reused) is stale and is taken over;
a live owner's lock is a one-line `OutputError` naming the owner.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError
from .files import os_reason

LOCK = ".lock"
STAGING_PREFIX = ".staging-"


def check_out_dir(path: str | Path, option: str = "--out") -> Path:
    """`path` if a folder can be created or used there; else OutputError naming the option and why."""
    try:
        return _check_out_dir(Path(path), option)
    except OSError as e:  # e.g. a name longer than the file system allows
        raise OutputError(f"{option} {path}: {os_reason(e)}; choose another path") from None


def _check_out_dir(p: Path, option: str) -> Path:
    if p.exists() and not p.is_dir():
        raise OutputError(f"{option} {p} is an existing file; allowed: a folder, new or existing")
    ancestor = p
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise OutputError(f"{option} {p} lies under the file {ancestor}; allowed: a path under a folder")
    try:
        read_only = bool(os.statvfs(ancestor).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        raise OutputError(f"{option} {p} is on a read-only file system; choose a writable location")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {p}: no permission to write in {ancestor}; choose a writable location")
    return p


def check_out_file(path: str | Path, option: str = "--out", overwrite: bool = False) -> Path:
    """An output file: its folder must pass `check_out_dir`; an existing file needs `overwrite`."""
    p = Path(path)
    try:
        is_dir, exists = p.is_dir(), p.exists()
    except OSError as e:  # e.g. a name longer than the file system allows
        raise OutputError(f"{option} {p}: {os_reason(e)}; choose another path") from None
    if is_dir:
        raise OutputError(f"{option} {p} is a folder; allowed: a file path")
    if p.parent.is_file():
        raise OutputError(f"{option} {p} lies under the file {p.parent}; allowed: a path under a folder")
    check_out_dir(p.parent, option)
    if exists and not overwrite:
        raise OutputError(
            f"{option} {p} already exists; pass --overwrite to replace it or choose another path"
        )
    return p


def _start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (tells a live owner from a reused pid), None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    now = _start_time(pid)
    return started is None or now is None or now == started


class FolderLock:
    """Exclusive ownership of `folder` by this process (context manager; `acquire`/`release`)."""

    def __init__(self, folder: str | Path, what: str = "run directory") -> None:
        self.folder, self.what = Path(folder), what
        self.path = self.folder / LOCK
        self.held = False

    def _owner(self) -> dict | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None
        except (OSError, ValueError):
            return None

    def acquire(self) -> FolderLock:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(
                f"cannot create {self.what} {self.folder}: {os_reason(e)}; choose another --out"
            )
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": _start_time(os.getpid())}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is None:  # killed between creating and writing the lock
                    if time.time() - self._mtime() < 5:
                        raise OutputError(f"{self.what} {self.folder} is being claimed by another process")
                elif owner.get("host") != me["host"]:
                    raise OutputError(
                        f"{self.what} {self.folder} is locked by pid {owner['pid']} on host {owner.get('host')}; "
                        f"wait for that run, choose another --out, or delete {self.path} if it is dead"
                    )
                elif owner["pid"] != me["pid"] and _alive(owner["pid"], owner.get("started")):
                    raise OutputError(
                        f"{self.what} {self.folder} is in use by running process {owner['pid']}; "
                        "wait for it to finish or choose another --out"
                    )
                self.path.unlink(missing_ok=True)  # stale: its owner is gone (or is this process)
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(me, f)
            self.held = True
            return self
        raise OutputError(f"{self.what} {self.folder}: could not take its lock {self.path}; retry")

    def _mtime(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    def release(self) -> None:
        if self.held:
            owner = self._owner()
            if owner is None or owner["pid"] == os.getpid():
                self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def check_fresh_dir(path: str | Path, overwrite: bool, option: str = "--out", what: str = "results") -> Path:
    """An output folder for a command that cannot resume: `check_out_dir`, and a folder that already holds
    anything (besides a lock or temp files a killed run left) needs `overwrite`."""
    p = check_out_dir(path, option)
    if p.is_dir() and not overwrite:
        left = (LOCK, STAGING_PREFIX)
        held = sorted(
            q.name for q in p.iterdir() if not q.name.startswith(left) and not q.name.endswith(".tmp")
        )
        if held:
            more = ", ..." if len(held) > 3 else ""
            raise OutputError(
                f"{option} {p} is not empty (it holds {', '.join(held[:3])}{more}); pass --overwrite to write "
                f"{what} there anyway, or choose another {option}"
            )
    return p


def remove_staging(folder: str | Path) -> None:
    """Delete staging folders a killed export left in `folder` (call with the folder's lock held)."""
    folder = Path(folder)
    if folder.is_dir():
        for p in folder.glob(f"{STAGING_PREFIX}*"):
            shutil.rmtree(p, ignore_errors=True)


@contextlib.contextmanager
def owned_folder(path: str | Path, what: str = "output folder") -> Iterator[Path]:
    """Lock `path` (created if needed) for this process, clean what killed runs left there (temp files,
    staging folders), and on exit unlock; a folder this call created and nothing was put in is removed."""
    p = check_out_dir(path)
    existed = p.exists()
    lock = FolderLock(p, what).acquire()
    try:
        remove_staging(p)
        for tmp in p.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        yield p
    finally:
        lock.release()
        if not existed:
            with contextlib.suppress(OSError):
                p.rmdir()  # only succeeds when empty
