"""The `torch-cuda` timer: GPU time of one forward pass, from CUDA events around replays of a CUDA graph.

Batch-1 inference of a small network on a large GPU lasts tens of microseconds, about what it costs the CPU
to launch its kernels one by one. Timed between `cuda.synchronize()` calls, such a pass measured the Python
launch loop and its jitter: the same subnet timed twice differed by 46.7% on an H200
(experiments/results/gpu_check.md). Here the pass is captured once in a CUDA graph (the way TensorRT and
onnxruntime's CUDA graphs deploy it), and each timed sample is `REPLAYS` back-to-back replays between two
CUDA events, divided by `REPLAYS`: the time the GPU takes, launches included once, not the host's loop.
A module that cannot be captured is timed the same way with eager launches (`cuda_time_ns` says which).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

REPLAYS = 20  # passes per timed sample: one event pair resolves about half a microsecond


def _graph_or_eager(
    module: nn.Module, example: torch.Tensor, warmup: int
) -> tuple[Callable[[], object], str]:
    """A callable that runs `module(example)` once on the GPU: a CUDA graph's replay if the pass can be
    captured, else the eager call; and which of the two ("graph" or "eager")."""
    side = torch.cuda.Stream()  # capture wants its warm-up on a side stream (cuDNN/cuBLAS set-up)
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(max(3, warmup)):
            module(example)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph):
            module(example)
    except RuntimeError:  # an op that cannot be captured (host sync, dynamic shapes)
        torch.cuda.synchronize()
        return (lambda: module(example)), "eager"
    return graph.replay, "graph"


def cuda_time_ns(
    module: nn.Module, example: torch.Tensor, warmup: int, repeats: int
) -> tuple[list[float], str]:
    """`repeats` samples of the GPU time of one `module(example)` in ns (each the mean of `REPLAYS` passes
    between two CUDA events), after `warmup` untimed passes; and the mode ("graph" or "eager")."""
    module, example = module.cuda().eval(), example.cuda()
    with torch.no_grad():
        run, mode = _graph_or_eager(module, example, warmup)
        for _ in range(warmup):
            run()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        times = []
        for _ in range(repeats):
            start.record()
            for _ in range(REPLAYS):
                run()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) * 1e6 / REPLAYS)  # elapsed_time is in ms
    return times, mode
