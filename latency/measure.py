"""Timing on a target: one module, one ONNX graph or one whole subnet, with warm-up, repeats and a statistic.

`stat` is the statistic of the timed runs (see `STATS`): `median` (default: the typical latency a user
measures), `p90`/`p99` (tail latency, for serving) or `min` (a lower bound, and the steadiest on a
machine shared with other work). docs/latency.md says when to use which.

Targets that run code: `ort-cpu` (the graph exported by `latency.onnx`, run by an onnxruntime session on
`provider`, CPU by default, with `threads` intra-op threads and all graph optimisations, i.e. as the
shipped ONNX runs), `ort-cpu-int8` (the same graph quantised by `latency.quantize`, as `extract --int8`
ships it), `torch-cpu` (eager PyTorch in inference mode) and `torch-cuda` (eager, timed between
`cuda.synchronize()` calls). Batch size 1 by default: the deployment case.
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

from .errors import TargetError
from .onnx import CPU_PROVIDER, export_onnx, export_subnet, ort_session
from .table import STATS

ORT_TARGETS = {"ort-cpu": "fp32", "ort-cpu-int8": "int8"}  # target -> precision of the timed graph
MEASURED_TARGETS = (*ORT_TARGETS, "torch-cpu", "torch-cuda")
DEFAULT_STAT = "median"


def check_stat(stat: str) -> None:
    if stat not in STATS:
        raise TargetError(f"timing statistic {stat!r} is unknown; allowed: {', '.join(STATS)}")


def summarize_ms(times_ns: list[int], stat: str) -> float:
    """`stat` of wall times in ns, in ms. Percentiles interpolate linearly (numpy's default), as
    `run_kit.py` computes them on the device."""
    import numpy as np

    check_stat(stat)
    x = np.asarray(times_ns, dtype=float)
    value = {"min": x.min, "median": lambda: np.median(x)}.get(stat)
    return float(value() if value else np.percentile(x, float(stat[1:]))) / 1e6


def time_ms(
    run: Callable[[], object], warmup: int = 10, repeats: int = 50, stat: str = DEFAULT_STAT
) -> float:
    """`stat` of the wall times of `repeats` calls of `run()` after `warmup` calls, in ms."""
    check_stat(stat)
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        run()
        times.append(time.perf_counter_ns() - start)
    return summarize_ms(times, stat)


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
    stat: str = DEFAULT_STAT,
    provider: str = CPU_PROVIDER,
) -> float:
    """Latency (`stat` of the runs) in ms of one ONNX graph (a path or bytes) under onnxruntime."""
    if not isinstance(onnx_model, bytes) and not Path(onnx_model).is_file():
        raise TargetError(f"ONNX file not found: {onnx_model}")
    session = ort_session(onnx_model, threads, provider)
    feed = _onnx_input(session, batch)
    return time_ms(lambda: session.run(None, feed), warmup, repeats, stat)


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
            path.write_bytes(fp32)
        return path
    from .quantize import quantize_int8, random_calibration

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "fp32.onnx"
        src.write_bytes(fp32 if isinstance(fp32, bytes) else Path(fp32).read_bytes())
        return quantize_int8(src, path, random_calibration(shape))


def module_graph(module: nn.Module, example: torch.Tensor, path: Path, precision: str = "fp32") -> Path:
    """Write the ONNX graph an onnxruntime target times for `module(example)`: fp32, or int8 QDQ."""
    return _write_graph(export_onnx(module, example), Path(path), precision, tuple(example.shape))


def subnet_graph(
    space: SearchSpace, arch: ArchConfig, in_chans: int, num_classes: int, path: Path, precision: str = "fp32"
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


def _ort_graph_ms(write: Callable[[Path], Path], batch: int, provider: str, **timing) -> float:
    with tempfile.TemporaryDirectory() as tmp, one_torch_thread():
        path = write(Path(tmp) / "graph.onnx")
        return measure_onnx_ms(path, batch=batch, provider=provider, **timing)


def measure_module_ms(
    module: nn.Module,
    example: torch.Tensor,
    target: str,
    threads: int = 1,
    warmup: int = 10,
    repeats: int = 50,
    stat: str = DEFAULT_STAT,
    provider: str = CPU_PROVIDER,
) -> float:
    """Latency (`stat` of the runs) in ms of `module(example)` on `target` (the batch size is `example`'s)."""
    check_target(target)
    module = module.eval()
    if target in ORT_TARGETS:
        timing = dict(threads=threads, warmup=warmup, repeats=repeats, stat=stat)
        write = lambda p: module_graph(module, example, p, ORT_TARGETS[target])  # noqa: E731
        return _ort_graph_ms(write, example.shape[0], provider, **timing)
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
    stat: str = DEFAULT_STAT,
    provider: str = CPU_PROVIDER,
) -> float:
    """End-to-end latency in ms of the whole subnet `arch`: on onnxruntime targets the very graph
    `supernet extract` ships, on torch targets the module `build_subnet` builds."""
    check_target(target)
    timing = dict(threads=threads, warmup=warmup, repeats=repeats, stat=stat)
    if target in ORT_TARGETS:
        write = lambda p: subnet_graph(space, arch, in_chans, num_classes, p, ORT_TARGETS[target])  # noqa: E731
        return _ort_graph_ms(write, batch, provider, **timing)
    model = build_subnet(space, arch.validate(space), num_classes, in_chans).eval()
    example = torch.randn(batch, in_chans, arch.resolution, arch.resolution)
    return measure_module_ms(model, example, target, **timing)
