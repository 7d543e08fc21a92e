"""Timing on a target: one module, one ONNX file or one whole subnet, with warm-up, repeats and a statistic.

`stat` is the statistic of the timed runs: `median` (default: the typical latency on a quiet device) or
`min` (the run least disturbed by other processes: steadier on a machine shared with other work).

Targets that run code: `ort-cpu` (the module is exported with `torch.onnx.export` and run by an
onnxruntime `InferenceSession` with `threads` intra-op threads, all graph optimisations on, i.e. as
the shipped ONNX runs), `torch-cpu` (eager PyTorch in inference mode) and `torch-cuda` (eager, timed
between `cuda.synchronize()` calls). Batch size 1 by default: the deployment case.
"""

from __future__ import annotations

import io
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from supernet import ArchConfig, SearchSpace, build_subnet

from .errors import TargetError

MEASURED_TARGETS = ("ort-cpu", "torch-cpu", "torch-cuda")
OPSET = 17


STATS = ("median", "min")


def time_ms(run: Callable[[], object], warmup: int = 10, repeats: int = 50, stat: str = "median") -> float:
    """`stat` (median or min) of the wall times of `repeats` calls of `run()` after `warmup` calls, in ms."""
    if stat not in STATS:
        raise TargetError(f"timing statistic {stat!r} is unknown; allowed: {', '.join(STATS)}")
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        run()
        times.append(time.perf_counter_ns() - start)
    return (statistics.median(times) if stat == "median" else min(times)) / 1e6


def export_onnx(module: nn.Module, example: torch.Tensor) -> bytes:
    """ONNX bytes of an eval-mode module. The TorchScript exporter (`dynamo=False`) is used because it is
    about 30x faster per layer here than the dynamo exporter and yields the same graph after onnxruntime's
    optimisations (BN folded, Conv+Clip)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            (example,),
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=["input"],
            output_names=["output"],
        )
    return buffer.getvalue()


def ort_session(model: bytes | str | Path, threads: int = 1):
    """An onnxruntime CPU session with `threads` intra-op threads and full graph optimisation."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def _onnx_input(session, batch: int):
    import numpy as np

    (inp,) = session.get_inputs()
    shape = [batch if i == 0 and not isinstance(d, int) else d for i, d in enumerate(inp.shape)]
    if not all(isinstance(d, int) for d in shape):
        raise TargetError(
            f"ONNX input {inp.name} has dynamic dims {inp.shape}; only the batch dim may be dynamic"
        )
    return {inp.name: np.random.default_rng(0).standard_normal(shape, dtype=np.float32)}


def measure_onnx_ms(
    onnx_model: str | Path | bytes,
    threads: int = 1,
    batch: int = 1,
    warmup: int = 10,
    repeats: int = 50,
    stat: str = "median",
) -> float:
    """Latency (`stat` of the runs) in ms of one ONNX model (a path or bytes) under onnxruntime on the CPU."""
    if not isinstance(onnx_model, bytes) and not Path(onnx_model).is_file():
        raise TargetError(f"ONNX file not found: {onnx_model}")
    session = ort_session(onnx_model, threads)
    feed = _onnx_input(session, batch)
    return time_ms(lambda: session.run(None, feed), warmup, repeats, stat)


def check_target(target: str) -> None:
    if target not in MEASURED_TARGETS:
        raise TargetError(
            f"target {target!r} is not measured; measured targets: {', '.join(MEASURED_TARGETS)}"
        )
    if target == "torch-cuda" and not torch.cuda.is_available():
        raise TargetError("target torch-cuda needs a CUDA GPU and none is visible; use ort-cpu or torch-cpu")


def measure_module_ms(
    module: nn.Module,
    example: torch.Tensor,
    target: str,
    threads: int = 1,
    warmup: int = 10,
    repeats: int = 50,
    stat: str = "median",
) -> float:
    """Latency (`stat` of the runs) in ms of `module(example)` on `target` (the batch size is `example`'s)."""
    check_target(target)
    module = module.eval()
    if target == "ort-cpu":
        return measure_onnx_ms(export_onnx(module, example), threads, example.shape[0], warmup, repeats, stat)
    torch.set_num_threads(threads)
    if target == "torch-cuda":
        module, example = module.cuda(), example.cuda()

        def run():
            module(example)
            torch.cuda.synchronize()

    else:

        def run():
            module(example)

    with torch.inference_mode():
        return time_ms(run, warmup, repeats, stat)


def measure_arch_ms(
    space: SearchSpace,
    arch: ArchConfig,
    target: str,
    in_chans: int,
    num_classes: int,
    threads: int = 1,
    batch: int = 1,
    warmup: int = 10,
    repeats: int = 50,
    stat: str = "median",
) -> float:
    """End-to-end latency in ms of the whole subnet `arch`, built as `build_subnet` builds it."""
    model = build_subnet(space, arch.validate(space), num_classes, in_chans).eval()
    example = torch.randn(batch, in_chans, arch.resolution, arch.resolution)
    return measure_module_ms(model, example, target, threads, warmup, repeats, stat)
