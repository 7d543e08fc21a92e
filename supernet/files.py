"""File writes and hashes shared by checkpoints, latency tables, FPGA configs, exports and search logs.

Every write is atomic (a temp file beside the target, then `os.replace`), so readers see the old file or
the new one, never half. A write that fails (no space, a read-only file system, permissions, a folder that
cannot hold files such as /proc, a name too long) becomes an `OutputError`: one line naming the file,
what happened, and that the previous file survived.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import OutputError

TMP_SUFFIX = ".tmp"
_DISK_ERRORS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


def os_reason(e: OSError) -> str:
    """What went wrong, in words, for a failed file-system call."""
    if e.errno == errno.ENAMETOOLONG:
        return "a name in the path is longer than the file system allows (usually 255 bytes)"
    if e.errno in _DISK_ERRORS:
        return _DISK_ERRORS[e.errno]
    if e.strerror:
        return e.strerror.lower()
    return (str(e).splitlines() or [""])[0] or e.__class__.__name__


def disk_error(path: str | Path, e: OSError, survived: str | None = None) -> OutputError:
    """A one-line `OutputError` for a failed write of `path`, saying what survived (e.g. the previous file)."""
    what = os_reason(e)
    kept = f"; {survived}" if survived else ""
    fix = "free space or choose another --out" if e.errno in _DISK_ERRORS else "choose another --out"
    err = OutputError(f"cannot write {path}: {what}{kept}; {fix}, then rerun")
    err.path, err.reason = Path(path), what
    return err


def make_dirs(path: str | Path, what: str = "folder", option: str = "--out") -> Path:
    """`path.mkdir(parents=True, exist_ok=True)`; a failure is one `OutputError` line naming `option`."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        why = "a file has that name" if isinstance(e, FileExistsError) else os_reason(e)
        raise OutputError(f"cannot create {what} {path}: {why}; choose another {option}") from None
    return path


def atomic_write(path: str | Path, write: Callable[[str], object]) -> Path:
    """`write(tmp_path)`, then rename over `path`: readers see the old file or the new one, never half.

    The temp file sits beside `path` (same file system, so the rename is atomic) and is removed if
    `write` fails. The result is world-readable like a plainly written file (mkstemp makes it private).
    Any OS error (disk full, read-only, permissions, a folder that cannot hold files) raises `OutputError`
    naming the file; any earlier version of `path` is left untouched.
    """
    path = Path(path)
    survived = "nothing was written"
    try:
        if path.exists():
            survived = f"the previous {path.name} is unchanged"
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    except OSError as e:
        raise disk_error(path, e, survived) from None
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise disk_error(path, e, survived) from None
        if isinstance(e, RuntimeError) and "No space left" in str(e):  # torch.save/safetensors wrap errno
            raise disk_error(path, OSError(errno.ENOSPC, "No space left on device"), survived)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json(path: str | Path, data) -> Path:
    """Strict JSON (no NaN/Infinity: other tools cannot read them), written atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def append_line(path: str | Path, line: str) -> None:
    """Append one line and flush it to disk (logs that must survive a kill right after)."""
    path = Path(path)
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line.rstrip("\n") + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        if e.errno in _DISK_ERRORS:
            raise disk_error(path, e, f"earlier lines of {path.name} are kept")
        raise


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def remove_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temp files `atomic_write` leaves when its process is killed (`.NAME.XXXX.tmp`)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = [p for p in folder.glob(f".*{TMP_SUFFIX}") if p.is_file()]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed
