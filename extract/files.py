"""Output hygiene: hashes, atomic JSON, and a staging folder so a failed run leaves nothing that looks complete."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from supernet.files import atomic_write_text


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path: str | Path, data) -> Path:
    """Write JSON through a temp file and `os.replace`, so readers never see half a file."""
    return atomic_write_text(path, json.dumps(data, indent=2) + "\n")


@contextlib.contextmanager
def staged_output(out_dir: str | Path, last: str = "card.json") -> Iterator[Path]:
    """Yield an empty staging folder next to `out_dir`; on success move its files into `out_dir` (`last`
    moved last, so its presence marks a complete export), on any error delete it and leave `out_dir` as it was."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.staging-"))
    try:
        yield stage
        out_dir.mkdir(exist_ok=True)
        (out_dir / last).unlink(missing_ok=True)
        files = sorted(stage.iterdir(), key=lambda p: p.name == last)
        for f in files:
            os.replace(f, out_dir / f.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
