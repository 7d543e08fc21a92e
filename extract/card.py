"""The model card: everything a third party needs to trust and run the shipped ONNX file."""

from __future__ import annotations

from pathlib import Path

from supernet.provenance import library_versions, utc_timestamp

from .files import sha256_file
from .onnx_io import INPUT_NAME, OUTPUT_NAME

CARD_FORMAT = "supernet-card/1"
__all__ = ["CARD_FORMAT", "build_card", "file_entries", "library_versions", "preprocessing"]


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
        "finite_inputs": "required: check that every pixel is finite before inference; the fp32 model turns "
        "NaN/inf into NaN logits, the int8 model clips them into finite, meaningless logits",
    }


def file_entries(folder: Path, names: list[str]) -> dict[str, dict]:
    return {n: {"sha256": sha256_file(folder / n), "bytes": (folder / n).stat().st_size} for n in names}


def build_card(**sections) -> dict:
    """`sections` (arch, space, checkpoint, accuracy, latency, ...) under a format tag, time and versions."""
    return {
        "format": CARD_FORMAT,
        "created": utc_timestamp(),
        **sections,
        "versions": library_versions(),
    }
