"""Depthwise weight gradient per layer: the C kernel (`supernet/_dwgrad.py`) against PyTorch's (oneDNN on
CPU), side by side in one process, interleaved rounds, 1 thread, float32 NHWC; shapes of the mbv2-small
supernet at batch 64 (Fashion-MNIST, 32 px), and 3x3 layers (PyTorch's kernel is used for 3x3).

    python experiments/bench_dwgrad.py --out experiments/results/dwgrad.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

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
        t = {"torch": [], "c": []}
        for r in range(args.rounds):
            for name, fn in (("torch", torch_grad), ("c", weight_grad))[:: 1 if r % 2 == 0 else -1]:
                start = time.perf_counter()
                fn(x, dy, k, s)
                t[name].append(time.perf_counter() - start)
        med = {name: 1e3 * statistics.median(v) for name, v in t.items()}
        rows.append(
            f"| {n}x{c}x{h}x{h} | {k}x{k} | {s} | {med['torch']:.2f} | {med['c']:.2f} | "
            f"{med['torch'] / med['c']:.2f} | {err:.1e} |"
        )
        print(rows[-1], flush=True)
    text = "\n".join(
        [
            "# Depthwise weight gradient: C kernel vs PyTorch (oneDNN), per layer",
            "",
            f"Command: `python {' '.join(sys.argv)}`",
            "",
            f"torch {torch.__version__}, 1 thread, float32 channels_last, median of {args.rounds} interleaved "
            f"rounds; 1-min load average at the start: {load:.2f}.",
            "",
            "| input (NxCxHxW) | kernel | stride | PyTorch ms | C ms | speed-up | max abs difference |",
            "|---|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    if args.out:
        atomic_write_text(args.out, text)


if __name__ == "__main__":
    main()
