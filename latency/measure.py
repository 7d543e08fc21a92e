"""Timing on a target: one module, one ONNX graph or one whole subnet, as a `Timing` says (warm-up,
repeats, the statistic kept and threads; see `latency.timing`). docs/latency.md says which statistic when.

Targets that run code: `ort-cpu` (the graph exported by `latency.onnx`, run by an onnxruntime session on
`provider`, CPU by default, with `timing.threads` intra-op threads and all graph optimisations, i.e. as the
shipped ONNX runs), `ort-cpu-int8` (the same graph quantised by `latency.quantize`, as `extract --int8`
ships it), `torch-cpu` (eager PyTorch in inference mode) and `torch-cuda` (GPU time from CUDA events
around replays of a CUDA graph of the pass: `latency._cuda_timer`). Batch size 1 by default: the
deployment case.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from supernet import ArchConfig, SearchSpace, build_subnet
from supernet.files import atomic_write

from ._cuda_timer import cuda_time_ns
from .errors import TargetError
from .onnx import CPU_PROVIDER, export_onnx, export_subnet, ort_session
from .timing import DEFAULT_TIMING, Timing, check_stat

ORT_TARGETS = {"ort-cpu": "fp32", "ort-cpu-int8": "int8"}  # target -> precision of the timed graph
MEASURED_TARGETS = (*ORT_TARGETS, "torch-cpu", "torch-cuda")


def summarize_ms(times_ns: list[int], stat: str) -> float:
    """`stat` of wall times in ns, in ms. Percentiles interpolate linearly (numpy's default), as
    `run_kit.py` computes them on the device."""
    import numpy as np

    check_stat(stat)
    x = np.asarray(times_ns, dtype=float)
    value = {"min": x.min, "median": lambda: np.median(x)}.get(stat)
    return float(value() if value else np.percentile(x, float(stat[1:]))) / 1e6


def time_ms(run: Callable[[], object], timing: Timing = DEFAULT_TIMING) -> float:
    """`timing.stat` of the wall times of `timing.repeats` calls of `run()` after `timing.warmup` calls, in ms
    (`run` applies `timing.threads` itself)."""
    for _ in range(timing.warmup):
        run()
    times = []
    for _ in range(timing.repeats):
        start = time.perf_counter_ns()
        run()
        times.append(time.perf_counter_ns() - start)
    return summarize_ms(times, timing.stat)


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
    timing: Timing = DEFAULT_TIMING,
    *,
    batch: int = 1,
    provider: str = CPU_PROVIDER,
) -> float:
    """Latency (`timing.stat` of the runs) in ms of one ONNX graph (a path or bytes) under onnxruntime."""
    if not isinstance(onnx_model, bytes) and not Path(onnx_model).is_file():
        raise TargetError(f"ONNX file not found: {onnx_model}")
    session = ort_session(onnx_model, timing.threads, provider)
    feed = _onnx_input(session, batch)
    return time_ms(lambda: session.run(None, feed), timing)


def check_target(target: str) -> None:
    if target not in MEASURED_TARGETS:
        raise TargetError(
            f"target {target!r} is not measured; measured targets: {', '.join(MEASURED_TARGETS)}"
        )
    if target == "torch-cuda" and not torch.cuda.is_available():
        raise TargetError("target torch-cuda needs a CUDA GPU and none is visible; use ort-cpu or torch-cpu")


def _write_graph(fp32: bytes | Path, path: Path, precision: str, shape: tuple[int, ...]) -> Path:
    if precision == "fp32":
        if isinstance(fp32, bytes):
            atomic_write(path, lambda tmp: Path(tmp).write_bytes(fp32))
        return path
    from .quantize import quantize_int8, random_calibration

    if isinstance(fp32, Path):
        return quantize_int8(fp32, path, random_calibration(shape))
    with tempfile.TemporaryDirectory() as scratch:
        src = atomic_write(Path(scratch) / "fp32.onnx", lambda tmp: Path(tmp).write_bytes(fp32))
        return quantize_int8(src, path, random_calibration(shape))


def module_graph(module: nn.Module, example: torch.Tensor, path: Path, precision: str = "fp32") -> Path:
    """Write the ONNX graph an onnxruntime target times for `module(example)`: fp32, or int8 QDQ."""
    return _write_graph(export_onnx(module, example), Path(path), precision, tuple(example.shape))


def subnet_graph(
    space: SearchSpace,
    arch: ArchConfig,
    *,
    in_chans: int,
    num_classes: int,
    path: Path,
    precision: str = "fp32",
) -> Path:
    """Write the whole subnet `arch` as `supernet extract` ships it (`model.onnx` / `model.int8.onnx`)."""
    model = build_subnet(space, arch.validate(space), num_classes, in_chans).eval()
    shape = (1, in_chans, arch.resolution, arch.resolution)
    return _write_graph(export_subnet(model, arch.resolution, in_chans), Path(path), precision, shape)


@contextlib.contextmanager
def one_torch_thread():
    """Export with one torch thread while onnxruntime times: a second torch worker busy-waits after each
    op and competes with the timed session on a small machine (measured in docs/latency.md)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _ort_graph_ms(write: Callable[[Path], Path], timing: Timing, batch: int, provider: str) -> float:
    with tempfile.TemporaryDirectory() as tmp, one_torch_thread():
        path = write(Path(tmp) / "graph.onnx")
        return measure_onnx_ms(path, timing, batch=batch, provider=provider)


def measure_module_ms(
    module: nn.Module,
    example: torch.Tensor,
    target: str,
    timing: Timing = DEFAULT_TIMING,
    *,
    provider: str = CPU_PROVIDER,
) -> float:
    """Latency (`timing.stat` of the runs) in ms of `module(example)` on `target` (the batch size is
    `example`'s)."""
    check_target(target)
    module = module.eval()
    if target in ORT_TARGETS:
        write = lambda p: module_graph(module, example, p, ORT_TARGETS[target])  # noqa: E731
        return _ort_graph_ms(write, timing, example.shape[0], provider)
    torch.set_num_threads(timing.threads)
    if target == "torch-cuda":
        times, _ = cuda_time_ns(module, example, timing.warmup, timing.repeats)
        return summarize_ms(times, timing.stat)
    with torch.inference_mode():
        return time_ms(lambda: module(example), timing)


def measure_arch_ms(
    space: SearchSpace,
    arch: ArchConfig,
    target: str,
    *,
    in_chans: int,
    num_classes: int,
    timing: Timing = DEFAULT_TIMING,
    batch: int = 1,
    provider: str = CPU_PROVIDER,
) -> float:
    """End-to-end latency in ms of the whole subnet `arch`: on onnxruntime targets the very graph
    `supernet extract` ships, on torch targets the module `build_subnet` builds."""
    check_target(target)
    if target in ORT_TARGETS:
        precision = ORT_TARGETS[target]
        write = lambda p: subnet_graph(  # noqa: E731
            space, arch, in_chans=in_chans, num_classes=num_classes, path=p, precision=precision
        )
        return _ort_graph_ms(write, timing, batch, provider)
    model = build_subnet(space, arch.validate(space), num_classes, in_chans).eval()
    example = torch.randn(batch, in_chans, arch.resolution, arch.resolution)
    return measure_module_ms(model, example, target, timing)
