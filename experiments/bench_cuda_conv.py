"""Why a supernet step is slow on a GPU with cuDNN, and what the plan-free ops (supernet/_cuda_conv.py) win.

Times the `mbv2-small` sandwich step (batch 512, 1x32x32, fp32, channels_last; Fashion-MNIST's GPU run)
in interleaved rounds, three ways: PyTorch's default convolutions (cuDNN) on the archs the training run
draws (new shapes nearly every step: cuDNN builds an execution plan for each), the same on one fixed set
of archs (plans cached after the first step: what cuDNN costs once shapes repeat), and the plan-free ops
on the drawn archs (the default). Prints each one's ms per step and the ratios.

    python experiments/bench_cuda_conv.py --device cuda --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_epochs import make_step, time_steps  # noqa: E402

CONFIGS = {  # name: (SUPERNET_CUDA_CONV, fixed archs)
    "cudnn, drawn archs": ("cudnn", False),
    "cudnn, fixed archs": ("cudnn", True),
    "plan-free, drawn archs (default)": ("native", False),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=8, help="timed steps per configuration and round")
    p.add_argument("--slow-steps", type=int, default=3, help="timed steps of 'cudnn, drawn archs' per round")
    args = p.parse_args()
    device = torch.device(args.device)
    steps = {name: make_step(device, args.batch_size, fixed) for name, (_, fixed) in CONFIGS.items()}
    times: dict[str, list[float]] = {name: [] for name in CONFIGS}
    next_step = dict.fromkeys(CONFIGS, 0)
    for name, (mode, _) in CONFIGS.items():  # warm-up (step 0): allocator, kernels, step 0's plans
        os.environ["SUPERNET_CUDA_CONV"] = mode
        time_steps(steps[name], device, 0, 1)
        next_step[name] = 1
    for r in range(args.rounds):
        order = list(CONFIGS) if r % 2 == 0 else list(CONFIGS)[::-1]
        for name in order:
            mode, _ = CONFIGS[name]
            os.environ["SUPERNET_CUDA_CONV"] = mode
            n = args.slow_steps if name == "cudnn, drawn archs" else args.steps
            times[name].append(time_steps(steps[name], device, next_step[name], n))
            next_step[name] += n
    os.environ.pop("SUPERNET_CUDA_CONV")
    ms = {name: 1000 * statistics.median(t) for name, t in times.items()}
    print(
        f"device {device}; mbv2-small sandwich step, batch {args.batch_size}, fp32, channels_last; "
        f"{args.rounds} interleaved rounds (median)"
    )
    for name, v in ms.items():
        print(f"  {name}: {v:.1f} ms/step ({args.batch_size / v * 1000:.0f} img/s)")
    slow, cached, free = ms.values()
    print(f"ratio cudnn-drawn/plan-free {slow / free:.2f}; cudnn-fixed/plan-free {cached / free:.2f}")


if __name__ == "__main__":
    main()
