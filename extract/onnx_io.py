"""ONNX export of an extracted subnet and the checks it must pass before it ships.

The exported file has a static resolution and a dynamic batch. It ships only if `onnx.checker` accepts
it and onnxruntime reproduces PyTorch's logits on real images within `atol` (default 1e-4).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from latency.onnx import INPUT_NAME, OPSET, OUTPUT_NAME, export_subnet
from latency.onnx import ort_session as _session
from supernet.files import atomic_write

from .errors import VerificationError

__all__ = ["INPUT_NAME", "OPSET", "OUTPUT_NAME", "check_onnx", "export_onnx", "ort_session"]


def export_onnx(
    model: nn.Module, path: str | Path, resolution: int, in_chans: int, dynamo: bool = False
) -> Path:
    """Export `model` (eval mode) for NCHW float32 input of `resolution`, any batch size, with the
    exporter latency tables are measured with (`latency.onnx`); `dynamo=True` is tested too."""
    return export_subnet(model, resolution, in_chans, path, dynamo=dynamo)


def check_onnx(path: str | Path) -> None:
    """`onnx.checker` with full shape inference; a failure is a VerificationError."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise VerificationError(f"{path} fails onnx.checker: {str(e).splitlines()[0]}")


def ort_session(path: str | Path, threads: int = 1, provider: str = "CPUExecutionProvider"):
    return _session(path, threads, provider)


def ort_logits(session, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    name = session.get_inputs()[0].name
    x = images.float().numpy()
    return np.concatenate(
        [session.run(None, {name: x[i : i + batch_size]})[0] for i in range(0, len(x), batch_size)]
    )


@torch.no_grad()
def torch_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    model.eval()
    return torch.cat([model(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]).numpy()


def check_parity(model: nn.Module, session, images: torch.Tensor, atol: float = 1e-4) -> float:
    """Max |onnxruntime - PyTorch| over the logits of `images`; above `atol` it is a VerificationError."""
    diff = float(np.abs(ort_logits(session, images) - torch_logits(model, images)).max())
    if not diff <= atol:
        raise VerificationError(
            f"onnxruntime and PyTorch logits differ by {diff:.3g} on {len(images)} images (allowed {atol:g}); "
            "the ONNX file was not shipped"
        )
    return diff


def ort_accuracy(session, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of an ONNX session: the accuracy of the file that ships, not of the PyTorch model."""
    pred = ort_logits(session, images).argmax(1)
    return float((pred == labels.numpy()).mean())


def set_metadata(path: str | Path, props: dict[str, str]) -> None:
    """Write `props` into the ONNX file's `metadata_props` (replacing same-named entries)."""
    import onnx

    model = onnx.load(str(path))
    kept = {p.key: p.value for p in model.metadata_props if p.key not in props}
    onnx.helper.set_model_props(model, {**kept, **props})
    atomic_write(path, lambda tmp: onnx.save(model, tmp))
