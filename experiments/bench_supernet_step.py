"""Forward+backward time of the supernet with an arch active / the same arch as a static timm model.

The static model is the physical limit (ratio 1.0): the gap is the cost of weight sharing (slicing,
elastic control flow). Both run side by side, interleaved, in one process; the median of the
interleaved rounds is reported, so load from other processes hits both sides alike.

    python experiments/bench_supernet_step.py --space mbv2-small --batch 64 --out experiments/results/supernet_step.md
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import torch

from supernet import ElasticMobileNetV2, SearchSpace, extract_subnet
from supernet.files import atomic_write_text


def step_time(model: torch.nn.Module, x: torch.Tensor, iters: int) -> float:
    t0 = time.perf_counter()
    for _ in range(iters):
        model.zero_grad(set_to_none=True)
        model(x).sum().backward()
    return (time.perf_counter() - t0) / iters


def bench(
    space: SearchSpace,
    *,
    in_chans: int,
    batch: int,
    rounds: int,
    iters: int,
    seed: int,
    fmt: torch.memory_format,
) -> list[dict]:
    supernet = ElasticMobileNetV2(space, num_classes=10, in_chans=in_chans).to(memory_format=fmt).train()
    rng = random.Random(seed)
    archs = [("smallest", space.smallest()), ("largest", space.largest())]
    archs += [(f"random-{i}", space.sample(rng)) for i in range(3)]
    rows = []
    for label, arch in archs:
        supernet.set_active(arch)
        static = extract_subnet(supernet, arch).to(memory_format=fmt).train()
        x = torch.randn(batch, in_chans, arch.resolution, arch.resolution).contiguous(memory_format=fmt)
        for model in (supernet, static):  # warm-up: allocator, oneDNN primitive caches
            step_time(model, x, 3)
        ratios, t_super, t_static = [], [], []
        for _ in range(rounds):
            a, b = step_time(supernet, x, iters), step_time(static, x, iters)
            t_super.append(a)
            t_static.append(b)
            ratios.append(a / b)
        rows.append(
            dict(
                label=label,
                arch=str(arch),
                super_ms=1e3 * statistics.median(t_super),
                static_ms=1e3 * statistics.median(t_static),
                ratio=statistics.median(ratios),
            )
        )
        print(
            f"{label:10s} super {rows[-1]['super_ms']:8.1f} ms  static {rows[-1]['static_ms']:8.1f} ms  "
            f"ratio {rows[-1]['ratio']:.3f}",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="mbv2-small")
    parser.add_argument("--in-chans", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--channels-last", action="store_true", help="as `supernet train` does by default")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    rows = bench(
        SearchSpace.resolve(args.space), in_chans=args.in_chans, batch=args.batch, rounds=args.rounds,
        iters=args.iters, seed=args.seed, fmt=fmt,
    )  # fmt: skip
    worst = max(r["ratio"] for r in rows)
    print(f"worst ratio {worst:.3f} (goal <= 1.05)")
    if args.out:
        lines = [
            "# Supernet step vs static timm model (forward+backward, CPU)",
            "",
            f"Command: `python {' '.join(sys.argv)}`",
            "",
            f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {args.threads} threads, "
            f"batch {args.batch}, {args.in_chans} input channel(s), channels_last {args.channels_last}, median of "
            f"{args.rounds} interleaved rounds x {args.iters} steps. 1-min load average at the start: "
            f"{os.getloadavg()[0]:.2f}.",
            "",
            "| subnet | supernet ms | static timm ms | ratio | arch |",
            "|---|---:|---:|---:|---|",
        ]
        lines += [
            f"| {r['label']} | {r['super_ms']:.1f} | {r['static_ms']:.1f} | {r['ratio']:.3f} | `{r['arch']}` |"
            for r in rows
        ]
        lines += ["", f"Worst ratio: {worst:.3f} (goal <= 1.05)."]
        atomic_write_text(args.out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
