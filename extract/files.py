"""Output hygiene: a staging folder so a failed run leaves nothing that looks complete, and an export
folder that never mixes the files of two exports."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from supernet.files import disk_error, sha256_file, write_json
from supernet.outdir import STAGING_PREFIX

__all__ = ["EXPORT_FILES", "sha256_file", "staged_output", "write_json"]

# Every file an export writes: a new export removes those of an earlier one that it does not write.
EXPORT_FILES = ("model.onnx", "model.int8.onnx", "model.safetensors", "model.json", "arch.json", "card.json")


def _is_disk_full(e: BaseException) -> bool:
    if isinstance(e, OSError):
        return e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
    return isinstance(e, RuntimeError) and "No space left" in str(e)


@contextlib.contextmanager
def staged_output(out_dir: str | Path, last: str = "card.json") -> Iterator[Path]:
    """Yield an empty staging folder inside `out_dir`; on success move its files into `out_dir` (`last`
    moved last, so its presence marks a complete export) and remove the files of an earlier export this
    one did not write; on any error delete the staging folder and leave `out_dir` as it was.

    A kill leaves only a hidden `.staging-*` folder, which the next run in `out_dir` removes
    (`supernet.outdir.owned_folder`) and which no reader mistakes for an export. A full disk is an
    `OutputError` naming the folder and saying that the earlier export is unchanged.
    """
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    had_export = (out_dir / last).is_file()
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out_dir, prefix=STAGING_PREFIX))
    try:
        yield stage
        (out_dir / last).unlink(missing_ok=True)
        written = {f.name for f in stage.iterdir()}
        for name in EXPORT_FILES:
            if name not in written:
                (out_dir / name).unlink(missing_ok=True)
        for f in sorted(stage.iterdir(), key=lambda p: p.name == last):
            os.replace(f, out_dir / f.name)
    except BaseException as e:
        shutil.rmtree(stage, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                out_dir.rmdir()
        if _is_disk_full(e):
            survived = (
                f"the earlier export in {out_dir} is unchanged" if had_export else "nothing was exported"
            )
            raise disk_error(out_dir, e if isinstance(e, OSError) else OSError(errno.ENOSPC, ""), survived)
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
