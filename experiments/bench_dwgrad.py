"""Depthwise gradients per layer: the weight gradient of the C kernel (`supernet/_dwgrad.py`) against
PyTorch's (oneDNN on CPU), and at stride 1 the input gradient as a flipped-kernel convolution against
PyTorch's backward kernel (an alternative that was tried and not kept: faster per layer, no faster in the
training step, docs/training.md); side by side in one process, interleaved rounds, 1 thread, float32 NHWC; shapes
of the mbv2-small supernet at batch 64 (Fashion-MNIST, 32 px), and 3x3 layers (PyTorch's kernels are used
for 3x3).

    python experiments/bench_dwgrad.py --out experiments/results/dwgrad.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from supernet._dwgrad import kernel_available, weight_grad  # noqa: E402
from supernet.files import atomic_write_text  # noqa: E402

# (batch, channels, height = width, kernel, stride): expanded widths of the supernet's stages
SHAPES = [
    (64, 240, 16, 7, 1),
    (64, 240, 16, 5, 1),
    (64, 240, 16, 3, 1),
    (64, 120, 16, 3, 1),
    (64, 240, 16, 3, 2),
    (64, 240, 16, 7, 2),
    (64, 480, 8, 7, 1),
    (64, 960, 4, 7, 1),
    (64, 96, 16, 7, 1),
]


def torch_grad(x, dy, k, s):
    w = torch.zeros(x.shape[1], 1, k, k)
    return torch.ops.aten.convolution_backward(
        dy, x, w, None, [s, s], [k // 2] * 2, [1, 1], False, [0, 0], x.shape[1], [False, True, False]
    )[1]


def torch_input_grad(dy, w, s):
    k = w.shape[-1]
    return torch.ops.aten.convolution_backward(
        dy, dy, w, None, [s, s], [k // 2] * 2, [1, 1], False, [0, 0], w.shape[0], [True, False, False]
    )[0]  # stride 1: the input has the output's shape


def flipped_input_grad(dy, w, s):
    return F.conv2d(dy, w.flip(-2, -1), None, 1, w.shape[-1] // 2, 1, w.shape[0])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--out", help="write the table (Markdown) here")
    args = p.parse_args()
    if not kernel_available():
        sys.exit("error: the C depthwise weight gradient did not compile here (no C compiler?)")
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    rows = []
    for n, c, h, k, s in SHAPES:
        x = torch.randn(n, c, h, h).contiguous(memory_format=torch.channels_last)
        dy = torch.randn(n, c, (h - 1) // s + 1, (h - 1) // s + 1).contiguous(
            memory_format=torch.channels_last
        )
        err = (weight_grad(x, dy, k, s) - torch_grad(x, dy, k, s)).abs().max().item()
        w = torch.randn(c, 1, k, k)
        fns = {"torch": partial(torch_grad, x, dy, k, s), "c": partial(weight_grad, x, dy, k, s)}
        if s == 1:
            fns["torch_in"] = partial(torch_input_grad, dy, w, s)
            fns["flip_in"] = partial(flipped_input_grad, dy, w, s)
            err_in = (fns["torch_in"]() - fns["flip_in"]()).abs().max().item()
        t = {name: [] for name in fns}
        for r in range(args.rounds):
            for name in list(fns)[r % len(fns) :] + list(fns)[: r % len(fns)]:
                start = time.perf_counter()
                fns[name]()
                t[name].append(time.perf_counter() - start)
        med = {name: 1e3 * statistics.median(v) for name, v in t.items()}
        inp = (
            f"{med['torch_in']:.2f} | {med['flip_in']:.2f} | {med['torch_in'] / med['flip_in']:.2f} | {err_in:.1e}"
            if s == 1
            else "- | - | - | -"
        )
        rows.append(
            f"| {n}x{c}x{h}x{h} | {k}x{k} | {s} | {med['torch']:.2f} | {med['c']:.2f} | "
            f"{med['torch'] / med['c']:.2f} | {err:.1e} | {inp} |"
        )
        print(rows[-1], flush=True)
    text = "\n".join(
        [
            "# Depthwise gradients per layer: C weight gradient and flipped-kernel input gradient vs PyTorch (oneDNN)",
            "",
            f"Command: `python {' '.join(sys.argv)}`",
            "",
            f"torch {torch.__version__}, 1 thread, float32 channels_last, median of {args.rounds} interleaved "
            f"rounds; 1-min load average at the start: {load:.2f}.",
            "",
            "Weight gradient: PyTorch's vs the C kernel. Input gradient (stride 1): PyTorch's backward kernel vs a "
            "forward convolution of the output gradient with the flipped kernel (tried, not used: faster per "
            "layer, but the training step did not gain, see docs/training.md).",
            "",
            "| input (NxCxHxW) | kernel | stride | weight grad: PyTorch ms | C ms | speed-up | max abs diff "
            "| input grad: PyTorch ms | flipped ms | speed-up | max abs diff |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    if args.out:
        atomic_write_text(args.out, text)


if __name__ == "__main__":
    main()
