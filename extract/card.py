"""The model card: everything a third party needs to trust and run the shipped ONNX file."""

from __future__ import annotations

import platform
import time
from importlib import metadata
from pathlib import Path

from .files import sha256_file
from .onnx_io import INPUT_NAME, OUTPUT_NAME

CARD_FORMAT = "supernet-card/1"
LIBRARIES = ("supernet", "torch", "timm", "onnx", "onnxruntime", "numpy")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def preprocessing(resolution: int, in_chans: int, mean, std, resize: dict | None = None) -> dict:
    """Input contract of the ONNX file: NCHW float32 [batch, in_chans, resolution, resolution], resized with
    the training resize, then normalised per channel as (x - mean) / std."""
    return {
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "layout": "NCHW",
        "dtype": "float32",
        "shape": ["batch", in_chans, resolution, resolution],
        "input_size": resolution,
        "channels": in_chans,
        "mean": [float(m) for m in mean],
        "std": [float(s) for s in std],
        **(resize or {}),
        "output": "logits (apply softmax for probabilities)",
    }


def file_entries(folder: Path, names: list[str]) -> dict[str, dict]:
    return {n: {"sha256": sha256_file(folder / n), "bytes": (folder / n).stat().st_size} for n in names}


def build_card(**sections) -> dict:
    """`sections` (arch, space, checkpoint, accuracy, latency, ...) under a format tag, time and versions."""
    return {
        "format": CARD_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **sections,
        "versions": library_versions(),
    }
