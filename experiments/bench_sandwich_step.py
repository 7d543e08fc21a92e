"""Cost of weight sharing: images/s of one sandwich step on the elastic supernet against the same subnets
trained as static timm models (one fwd+bwd+SGD step each), measured side by side in one run.

A ratio near 1 means the elastic ops (weight slicing, in-place BN slicing) cost little over stock timm
modules; the throughput of both is images per second of the *batch* (each image goes through all subnets).

    .venv/bin/python experiments/bench_sandwich_step.py --space mbv2-small --batch-size 64 --rounds 5
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from supernet import ElasticMobileNetV2, SearchSpace, build_subnet  # noqa: E402
from supernet.files import append_line  # noqa: E402
from supernet.train.resize import resize_to  # noqa: E402
from supernet.train.sandwich import sandwich_backward, step_archs  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="mbv2-small")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--in-chans", type=int, default=1)
    p.add_argument("--num-random", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5, help="timed rounds; each times both ways, alternating")
    p.add_argument(
        "--warm-static",
        action="store_true",
        help="give each round's new static models one untimed step first (a GPU builds its cuDNN plans "
        "for a new shape there; a static model trained for real pays that once)",
    )
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", help="append the result as a Markdown table row to this file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    space = SearchSpace.resolve(args.space)
    res = max(space.resolutions)
    images = torch.randn(args.batch_size, args.in_chans, res, res, device=device).contiguous(
        memory_format=fmt
    )
    targets = torch.randint(0, 10, (args.batch_size,), device=device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.amp)

    def autocast():
        return torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()

    supernet = ElasticMobileNetV2(space, 10, args.in_chans).to(device, memory_format=fmt)
    sgd = torch.optim.SGD(supernet.parameters(), lr=1e-3, momentum=0.9)
    scaler = torch.amp.GradScaler(device.type, enabled=args.amp == "fp16")

    def sandwich(archs) -> None:
        sandwich_backward(supernet, images, targets, archs, autocast=autocast, scale_loss=scaler.scale)
        scaler.step(sgd)
        scaler.update()
        sgd.zero_grad(set_to_none=True)

    def static(models) -> None:
        for arch, model, opt in models:
            with autocast():
                loss = F.cross_entropy(model(resize_to(images, arch.resolution)).float(), targets)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)

    times = {"sandwich": [], "static": []}
    for step in range(args.rounds + 1):  # round 0 warms up both
        archs = step_archs(space, seed=0, step=step, num_random=args.num_random)
        models = []
        for arch in archs:
            m = build_subnet(space, arch, 10, args.in_chans).to(device, memory_format=fmt).train()
            models.append((arch, m, torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9)))
        if args.warm_static:
            static(models)
        order = [("sandwich", sandwich, archs), ("static", static, models)]
        for name, fn, arg in order if step % 2 == 0 else order[::-1]:
            sync(device)
            start = time.perf_counter()
            fn(arg)
            sync(device)
            if step > 0:
                times[name].append(time.perf_counter() - start)
    sandwich_ips = args.batch_size / statistics.median(times["sandwich"])
    static_ips = args.batch_size / statistics.median(times["static"])
    ratio = sandwich_ips / static_ips
    device_name = (
        torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    )
    print(
        f"device {device_name}; {args.space}, batch {args.batch_size}, {2 + args.num_random} subnets/step, "
        f"amp {args.amp}, channels_last {args.channels_last}, {args.rounds} rounds (median)"
    )
    print(
        f"sandwich step: {sandwich_ips:.1f} img/s; static timm subnets: {static_ips:.1f} img/s; "
        f"ratio sandwich/static {ratio:.2f}"
    )
    if args.out:
        row = (
            f"| {device_name} | {args.space} | {args.batch_size} | {args.amp} | {args.channels_last} | "
            f"{sandwich_ips:.1f} | {static_ips:.1f} | {ratio:.2f} |\n"
        )
        append_line(args.out, row)


if __name__ == "__main__":
    main()
