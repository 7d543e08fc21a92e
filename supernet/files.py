"""Atomic file writes, shared by checkpoints, latency tables, FPGA configs and exports."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | Path, write: Callable[[str], object]) -> Path:
    """`write(tmp_path)`, then rename over `path`: readers see the old file or the new one, never half.

    The temp file sits beside `path` (same file system, so the rename is atomic) and is removed if
    `write` fails. The result is world-readable like a plainly written file (mkstemp makes it private).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))
