"""The one ONNX path of the project: exporter, opset, tensor names and onnxruntime sessions.

Latency tables time graphs made here and `supernet extract` ships graphs made here, so the graph a table
was measured on is the graph that ships, by construction (same exporter, opset, names, dynamic batch).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn

from supernet.files import atomic_write

from .errors import TargetError

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
OPSET = 17
DYNAMO_OPSET = 18
CPU_PROVIDER = "CPUExecutionProvider"


def _exporter_options(dynamo: bool) -> dict:
    """What differs between the two exporters: how the batch dimension is declared, and the opset."""
    if dynamo:
        return dict(
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            dynamo=True,
            opset_version=DYNAMO_OPSET,
            verbose=False,
            external_data=False,
        )
    return dict(
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}, dynamo=False, opset_version=OPSET
    )


@torch.no_grad()
def export_onnx(
    module: nn.Module, example: torch.Tensor, path: str | Path | None = None, dynamo: bool = False
) -> bytes | Path:
    """Export eval-mode `module` for inputs shaped like `example` with a dynamic batch dimension.

    Returns the ONNX bytes, or writes `path` atomically (one self-contained file) and returns it. The
    TorchScript exporter (`dynamo=False`) is the default: it is much faster per graph and gives the same
    graph after onnxruntime's optimisations (BN folded, Conv+Clip); measured in docs/latency.md.
    """
    options = _exporter_options(dynamo)

    def export(target: io.BytesIO | str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(),
                (example,),
                target,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                **options,
            )

    if path is not None:
        return atomic_write(path, export)
    buffer = io.BytesIO()
    export(buffer)
    return buffer.getvalue()


def export_subnet(
    model: nn.Module, resolution: int, in_chans: int, path: str | Path | None = None, dynamo: bool = False
) -> bytes | Path:
    """A whole subnet as it ships: NCHW float32 input of `resolution`, any batch size."""
    return export_onnx(model, torch.zeros(2, in_chans, resolution, resolution), path, dynamo=dynamo)


def check_provider(provider: str) -> None:
    """TargetError unless onnxruntime on this machine offers `provider`."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if provider not in available:
        raise TargetError(
            f"onnxruntime execution provider {provider!r} is not available here; available: "
            f"{', '.join(available)} (time another device with `supernet latency kit`)"
        )


def check_provider_name(provider: str) -> None:
    """TargetError unless `provider` is an execution provider onnxruntime knows, here or on another device
    (a model may ship to a machine with providers this one lacks; a typo is refused)."""
    import onnxruntime as ort

    known = ort.get_all_providers()
    if provider not in known:
        raise TargetError(f"unknown onnxruntime execution provider {provider!r}; known: {', '.join(known)}")


def ort_session(model: bytes | str | Path, threads: int = 1, provider: str = CPU_PROVIDER):
    """An onnxruntime session on `provider` with `threads` intra-op threads and full graph optimisation:
    how latency tables time graphs and how `supernet extract` checks and times shipped files."""
    import onnxruntime as ort

    check_provider(provider)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    providers = [provider] if provider == CPU_PROVIDER else [provider, CPU_PROVIDER]
    return ort.InferenceSession(source, options, providers=providers)
