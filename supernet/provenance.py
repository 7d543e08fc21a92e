"""Where a result came from: one UTC timestamp format and one record of library versions for every
file the project writes (checkpoints, latency tables, model cards)."""

from __future__ import annotations

import datetime
import platform
from importlib import metadata

LIBRARIES = ("supernet", "torch", "timm", "onnx", "onnxruntime", "numpy")


def utc_timestamp() -> str:
    """Now, in UTC, to the second: `2026-11-30T03:43:07Z`."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str]:
    """Python's version and each installed distribution's ('not installed' where absent)."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
