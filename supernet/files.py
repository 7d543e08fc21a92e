"""File writes and hashes shared by checkpoints, latency tables, FPGA configs, exports and search logs.

Every write is atomic (a temp file beside the target, then `os.replace`), so readers see the old file or
the new one, never half. A write that fails for lack of space, a read-only file system or permissions
becomes an `OutputError`: one line naming the file, what happened, and that the previous file survived.
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


def disk_error(path: str | Path, e: OSError, survived: str | None = None) -> OutputError:
    """A one-line `OutputError` for a failed write of `path`, saying what survived (e.g. the previous file)."""
    what = _DISK_ERRORS.get(e.errno, e.strerror or e.__class__.__name__)
    kept = f"; {survived}" if survived else ""
    err = OutputError(f"cannot write {path}: {what}{kept}; free space or choose another --out, then rerun")
    err.path, err.reason = Path(path), what
    return err


def atomic_write(path: str | Path, write: Callable[[str], object]) -> Path:
    """`write(tmp_path)`, then rename over `path`: readers see the old file or the new one, never half.

    The temp file sits beside `path` (same file system, so the rename is atomic) and is removed if
    `write` fails. The result is world-readable like a plainly written file (mkstemp makes it private).
    Disk-full, read-only and permission failures raise `OutputError` naming the file; any earlier
    version of `path` is left untouched.
    """
    path = Path(path)
    survived = f"the previous {path.name} is unchanged" if path.exists() else "nothing was written"
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    except OSError as e:
        if e.errno in _DISK_ERRORS:
            raise disk_error(path, e, survived)
        raise
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno in _DISK_ERRORS:
            raise disk_error(path, e, survived)
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
