"""The model card: everything a third party needs to trust and run the shipped ONNX file."""

from __future__ import annotations

from pathlib import Path

from supernet.provenance import library_versions, utc_timestamp

from .files import sha256_file
from .onnx_io import INPUT_NAME, OUTPUT_NAME

CARD_FORMAT = "supernet-card/1"
__all__ = ["CARD_FORMAT", "build_card", "file_entries", "library_versions", "preprocessing"]


def preprocessing(contract) -> dict:
    """Input contract of the ONNX file, as numbers: decode an image file, convert it to `channel_order`,
    resize its shorter side to `resize_shorter_side_to` (`interpolation`), take the centre crop, multiply by
    `scale`, normalise per channel as (x - mean) / std, feed NCHW float32 [batch, *input_size] as
    `input_name`; `output_name` holds logits in `label_names` order. Every pixel must be finite
    (`requires_finite_inputs`: the fp32 model turns NaN/inf into NaN logits, the int8 model into finite,
    meaningless ones)."""
    return {
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        **contract.card(),
        "shape": ["batch", *contract.input_size],
        "output": "logits",
        "requires_finite_inputs": True,
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
