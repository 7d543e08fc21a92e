"""Training images/s of `supernet train`'s old default against its new one, side by side in one run.

Two processes join one gloo group once. Every round times each configuration for `--steps` real training
steps (`Trainer.train_step` on Fashion-MNIST batches from the Trainer's own loader: scheduler, sandwich of
4 subnets, gradient clipping, collapse guard, optimizer), in alternating order, while the process that a
configuration does not use waits in a barrier:

- `1x1 b64`: one process, 1 thread, batch 64, PyTorch's depthwise weight gradient
  (the first default);
- `2x1 b64`: two processes of 1 thread, 32 images each (global batch 64, the same recipe), one all-reduce
  per step, otherwise as above (the default before this benchmark's changes);
- `+C`: the C weight gradient of 5x5/7x7 depthwise convolutions (`supernet/_dwgrad.py`);
- `2x1 b64 +C` is the new default on 2 free cores; `2x1 b128` / `2x1 b256`: two processes of 64 / 128
  images each (global batch 128 / 256: different recipes, for large data sets). Threads in one process were measured before (1.21x for 1 x 2).

Images/s count the global batch. The median over rounds is reported, with each configuration's ratio to
the old default; `--profile` also writes the top ops of a step of the old and the new default.

    python experiments/bench_train_throughput.py --rounds 8 --steps 5 --out experiments/results/train_throughput.md
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from supernet._dwgrad import kernel_available, use_kernel  # noqa: E402
from supernet.distributed.sync import StepSync, broadcast_model, free_port, mean_over_ranks  # noqa: E402
from supernet.files import atomic_write_text  # noqa: E402
from supernet.train.config import TrainConfig  # noqa: E402
from supernet.train.trainer import Trainer  # noqa: E402

# name -> (processes, threads, global batch, C depthwise weight gradient); `--configs` picks some
CONFIGS = {
    "1x1 b32 +C": (1, 1, 32, True),
    "1x1 b64": (1, 1, 64, False),
    "1x1 b64 +C": (1, 1, 64, True),
    "2x1 b64": (2, 1, 64, False),
    "2x1 b64 +C": (2, 1, 64, True),
    "2x1 b128 +C": (2, 1, 128, True),
    "2x1 b256 +C": (2, 1, 256, True),
}
OLD, NEW = "1x1 b64", "2x1 b64 +C"
DEFAULT_CONFIGS = [name for name in CONFIGS if name != "1x1 b32 +C"]


def chosen(args: argparse.Namespace) -> dict[str, tuple]:
    """The configurations this run times (the old and the new default always)."""
    return {name: c for name, c in CONFIGS.items() if name in args.configs or name in (OLD, NEW)}


def _batches(trainer: Trainer):
    while True:
        trainer.sampler.set_epoch(trainer.epoch)
        yield from trainer.loader
        trainer.epoch += 1


def _worker(rank: int, port: int, args: argparse.Namespace, tmp: str, results) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2, timeout=timedelta(minutes=20)
    )
    base = TrainConfig(
        dataset="fashion-mnist", data_dir=args.data, progress=False, calib_images=2,
        inplace_distill=args.inplace_distill,
    )  # fmt: skip
    trainers, streams = {}, {}
    configs = chosen(args)
    for name, (nproc, _, batch, _) in configs.items():
        if rank >= nproc:
            continue
        cfg = dataclasses.replace(base, batch_size=batch, out=f"{tmp}/{name.replace(' ', '_')}-r{rank}")
        t = Trainer(
            cfg, rank=rank, world_size=nproc, is_main=False,
            grad_sync=StepSync() if nproc > 1 else None, reduce_scalar=mean_over_ranks if nproc > 1 else None,
            batch_per_rank=batch // nproc,
        )  # fmt: skip
        if nproc > 1:
            broadcast_model(t.model)
        t.model.train()
        trainers[name], streams[name] = t, _batches(t)

    def run(name: str, steps: int) -> float:
        nproc, threads, batch, c_kernel = configs[name]
        dist.barrier()
        if rank < nproc:
            torch.set_num_threads(threads)
            start = time.perf_counter()
            with use_kernel(c_kernel):
                for _ in range(steps):
                    images, targets = next(streams[name])
                    trainer = trainers[name]
                    images = images.to(memory_format=trainer.memory_format)
                    trainer.train_step(images, targets)
            elapsed = time.perf_counter() - start
            torch.set_num_threads(1)
        dist.barrier()
        return batch * steps / elapsed if rank == 0 else 0.0

    names = list(configs)
    for name in names:  # warm-up: oneDNN primitives, allocator
        run(name, 2)
    rates = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            rates[name].append(run(name, args.steps))
    profiles = {}
    if args.profile:
        from torch.profiler import profile

        for name in (OLD, NEW):
            dist.barrier()
            with profile() as prof:
                run(name, args.steps)
            if rank == 0:
                profiles[name] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
    if rank == 0:
        results.put((rates, profiles))
    dist.barrier()
    dist.destroy_process_group()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data", default="/usr/share/datasets/fashion-mnist", help="Fashion-MNIST gzip IDX folder"
    )
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--steps", type=int, default=5, help="training steps per configuration and round")
    p.add_argument(
        "--configs", type=lambda text: text.split(","), default=DEFAULT_CONFIGS,
        help=f"comma-separated, of: {', '.join(CONFIGS)} (default: all but 1x1 b32 +C; old and new always)",
    )  # fmt: skip
    p.add_argument(
        "--inplace-distill", action="store_true", help="train every configuration with in-place distillation"
    )
    p.add_argument("--profile", action="store_true", help="also profile one block of steps of old and new")
    p.add_argument("--out", help="write the result table (Markdown) here")
    p.add_argument("--profile-out", help="write the profiler tables (Markdown) here")
    args = p.parse_args()
    if unknown := [name for name in args.configs if name not in CONFIGS]:
        p.error(f"--configs: unknown {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    if not kernel_available():  # compiled here, once, before the workers load it
        sys.exit("error: the C depthwise weight gradient did not compile here (no C compiler?)")
    load_before = os.getloadavg()
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        procs = [ctx.Process(target=_worker, args=(r, port, args, tmp, results)) for r in range(2)]
        for proc in procs:
            proc.start()
        rates, profiles = results.get()
        for proc in procs:
            proc.join()
    load_after = os.getloadavg()
    med = {name: statistics.median(v) for name, v in rates.items()}
    lines = [
        "| configuration | processes x threads, global batch | images/s (median) | all rounds | vs old default |",
        "|---|---|---:|---|---:|",
    ]
    for name, (nproc, threads, batch, *_) in chosen(args).items():
        tag = " (old default)" if name == OLD else " (new default)" if name == NEW else ""
        lines.append(
            f"| `{name}`{tag} | {nproc} x {threads}, {batch} ({batch // nproc} per process) | {med[name]:.1f} | "
            f"{', '.join(f'{x:.0f}' for x in rates[name])} | {med[name] / med[OLD]:.2f} |"
        )
    cmd = "python " + " ".join(sys.argv)
    header = (
        f"Command: `{cmd}`\n\ntorch {torch.__version__}, {os.cpu_count()} CPUs; mbv2-small, Fashion-MNIST "
        f"1x28x28, full sandwich (4 subnets, in-place distillation {'on' if args.inplace_distill else 'off'}), "
        f"{args.steps} steps per configuration per round, {args.rounds} "
        f"alternating rounds. 1-min load average before / after: {load_before[0]:.2f} / {load_after[0]:.2f}.\n"
    )
    table = "\n".join(lines)
    print(header)
    print(table)
    pairs = [(f"C weight gradient alone at {p}x1 b64", f"{p}x1 b64 +C", f"{p}x1 b64") for p in (1, 2)]
    pairs.append(("one process, 32 vs 64 images per step (C kernel)", "1x1 b32 +C", "1x1 b64 +C"))
    gains = "; ".join(f"{label}: {med[a] / med[b]:.2f}x" for label, a, b in pairs if a in med and b in med)
    print(f"\nnew/old images-per-second ratio: {med[NEW] / med[OLD]:.2f}\n{gains}")
    if args.out:
        ratio = f"\n\nnew/old images-per-second ratio: **{med[NEW] / med[OLD]:.2f}**\n\n{gains}\n"
        atomic_write_text(args.out, header + "\n" + table + ratio)
    if profiles:
        text = "".join(
            f"## {name}: top ops by self CPU time, {args.steps} steps (rank 0)\n\n```\n{tab}\n```\n\n"
            for name, tab in profiles.items()
        )
        print(text)
        if args.profile_out:
            atomic_write_text(
                args.profile_out, f"# Where a training step's time goes\n\nCommand: `{cmd}`\n\n{text}"
            )


if __name__ == "__main__":
    main()
