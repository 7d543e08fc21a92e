"""How many epochs of the full Fashion-MNIST run fit in the time a device lease has left (gpu_check.sh).

Times `--steps` sandwich steps of the `mbv2-small` supernet (largest, smallest, 2 random subnets; fwd, bwd,
SGD) at the run's batch on the device, projects one epoch (54,000 training images) with a margin for the
per-epoch evaluation and for the family trained beside it on the same GPU, and prints the largest of
`--choices` whose projected time fits `--seconds`. The choice and the measured step time go to stderr.

    python experiments/gpu_epochs.py --device cuda --batch-size 512 --seconds 420 --choices 40,30,20,12
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from supernet import ElasticMobileNetV2, SearchSpace  # noqa: E402
from supernet.train.sandwich import sandwich_backward, step_archs  # noqa: E402

TRAIN_IMAGES = 54_000  # Fashion-MNIST's 60,000 less the 10% validation split


def make_step(device: torch.device, batch: int, fixed_archs: bool = False):
    """One sandwich step of `mbv2-small` at `batch` (1x32x32) on `device` as `step(s)`: step s trains the
    archs the training run draws at step s (or step 0's at every step, if `fixed_archs`)."""
    space = SearchSpace.preset("mbv2-small")
    model = ElasticMobileNetV2(space, num_classes=10, in_chans=1).to(
        device, memory_format=torch.channels_last
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    x = torch.randn(batch, 1, 32, 32, device=device).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=device)

    def step(s: int) -> None:
        archs = step_archs(space, seed=0, step=0 if fixed_archs else s, num_random=2)
        sandwich_backward(model, x, y, archs)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def time_steps(step, device: torch.device, first: int, count: int) -> float:
    """Seconds per step of steps first .. first + count - 1 (the device synchronised around them)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for s in range(first, first + count):
        step(s)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / count


def step_seconds(device: torch.device, batch: int, steps: int) -> float:
    step = make_step(device, batch)
    # warm-up as long as the timing: early steps meet subnet shapes for the first time (an H200 timed steps
    # 3-22 at 186 ms, 2.6x the steady 72 ms, and the probe chose 12 epochs where 30 fitted: gpu_check.md)
    time_steps(step, device, 0, steps)
    return time_steps(step, device, steps, steps)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--seconds", type=float, required=True, help="time the supernet may train for")
    p.add_argument("--choices", default="40,30,20,12", help="epoch counts, largest first")
    p.add_argument(
        "--margin",
        type=float,
        default=2.0,
        help="projected epoch time x this: evaluation, data loading (the supernet alone on an H200: 1.8x) and "
        "the static models beside it (2.4x at 12 epochs; experiments/results/gpu_check.md)",
    )
    args = p.parse_args()
    per_step = step_seconds(torch.device(args.device), args.batch_size, args.steps)
    epoch_s = math.ceil(TRAIN_IMAGES / args.batch_size) * per_step * args.margin
    choices = [int(c) for c in args.choices.split(",")]
    epochs = next((e for e in choices if e * epoch_s <= args.seconds), choices[-1])
    print(
        f"gpu_epochs: sandwich step {1000 * per_step:.1f} ms at batch {args.batch_size} on {args.device}; "
        f"epoch projected {epoch_s:.1f} s (x{args.margin:g} margin); {args.seconds:.0f} s left -> {epochs} epochs",
        file=sys.stderr,
    )
    print(epochs)


if __name__ == "__main__":
    main()
