"""Training images/s of `supernet train`'s old default against its new one, side by side in one run.

Every configuration trains in its own process(es), as a real run does: its own oneDNN primitive cache
(process-wide, so configurations sharing a process evicted each other's primitives in this script's first
version), its own environment, its own gloo group. The processes wait on a pipe (blocking, no spinning)
while another configuration runs. Each configuration first trains `--warmup` steps (oneDNN primitives,
allocator: a training run's first ~150 steps are slower), then every round times each configuration for
`--steps` real training steps (`Trainer.train_step` on Fashion-MNIST batches from the Trainer's own loader:
scheduler, sandwich of 4 subnets, gradient clipping, collapse guard, optimizer), in alternating order:

- `1x1 b64`: one process, 1 thread, batch 64, PyTorch's depthwise weight gradient, oneDNN's default
  primitive cache (1024 entries): the first default;
- `2x1 b64`: two processes of 1 thread, 32 images each (global batch 64, the same recipe), one all-reduce
  per step, otherwise as above;
- `+C`: the C weight gradient of 5x5/7x7 depthwise convolutions (`supernet/_dwgrad.py`);
- `+P`: oneDNN's primitive cache widened to `supernet.train.onednn.CAPACITY` entries (random subnets bring
  new convolution shapes every step; the default cache evicts them);
- `2x1 b64 +C +P` is the new default on 2 free cores; `2x1 b128` / `2x1 b256`: two processes of 64 / 128
  images each (global batch 128 / 256: different recipes, for large data sets). Threads in one process
  were measured before (1.21x for 1 x 2).

The configurations call the Trainer directly, so they slice weights under autograd: `supernet train`'s
aliasing leaves (`supernet/_alias.py`, 1% of a sandwich step, docs/training.md) are not part of them.

Images/s count the global batch. The median over rounds is reported, with each configuration's ratio to
the old default and its processes' peak resident memory; `--profile` also writes the top ops of a step of
the old and the new default.

    python experiments/bench_train_throughput.py --rounds 10 --steps 5 --out experiments/results/train_throughput.md
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import torch
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from supernet._dwgrad import kernel_available, use_kernel  # noqa: E402
from supernet.distributed.sync import free_port  # noqa: E402
from supernet.files import atomic_write_text  # noqa: E402
from supernet.train.onednn import CAPACITY, ENV, ONEDNN_DEFAULT  # noqa: E402

# name -> (processes, threads, global batch, C depthwise weight gradient, wide primitive cache)
CONFIGS = {
    "1x1 b32 +C": (1, 1, 32, True, False),
    "1x1 b64": (1, 1, 64, False, False),
    "1x1 b64 +C": (1, 1, 64, True, False),
    "1x1 b64 +C +P": (1, 1, 64, True, True),
    "2x1 b64": (2, 1, 64, False, False),
    "2x1 b64 +C": (2, 1, 64, True, False),
    "2x1 b64 +C +P": (2, 1, 64, True, True),
    "2x1 b128 +C +P": (2, 1, 128, True, True),
    "2x1 b256 +C +P": (2, 1, 256, True, True),
}
OLD, NEW = "1x1 b64", "2x1 b64 +C +P"
DEFAULT_CONFIGS = ["1x1 b64", "1x1 b64 +C", "2x1 b64 +C", "2x1 b64 +C +P", "2x1 b128 +C +P"]


def chosen(args: argparse.Namespace) -> dict[str, tuple]:
    """The configurations this run times (the old and the new default always)."""
    return {name: c for name, c in CONFIGS.items() if name in args.configs or name in (OLD, NEW)}


def _batches(trainer):
    while True:
        trainer.sampler.set_epoch(trainer.epoch)
        yield from trainer.loader
        trainer.epoch += 1


def _worker(rank: int, config: tuple, port: int, args: argparse.Namespace, out: str, conn) -> None:
    """One process of one configuration: trains `n` steps per request, answers with the seconds taken."""
    import torch.distributed as dist

    from supernet.distributed.sync import StepSync, broadcast_model, mean_over_ranks
    from supernet.train.config import TrainConfig
    from supernet.train.trainer import Trainer

    nproc, threads, batch, c_kernel, _ = config
    torch.set_num_threads(threads)
    if nproc > 1:
        dist.init_process_group(
            "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=nproc,
            timeout=timedelta(minutes=30),
        )  # fmt: skip
    cfg = TrainConfig(
        dataset="fashion-mnist", data_dir=args.data, progress=False, calib_images=2, batch_size=batch,
        inplace_distill=args.inplace_distill, out=f"{out}-r{rank}",
    )  # fmt: skip
    trainer = Trainer(
        cfg, rank=rank, world_size=nproc, is_main=False, batch_per_rank=batch // nproc,
        grad_sync=StepSync() if nproc > 1 else None, reduce_scalar=mean_over_ranks if nproc > 1 else None,
    )  # fmt: skip
    if nproc > 1:
        broadcast_model(trainer.model)
    trainer.model.train()
    stream = _batches(trainer)

    def train(steps: int) -> float:
        start = time.perf_counter()
        with use_kernel(c_kernel):
            for _ in range(steps):
                images, targets = next(stream)
                trainer.train_step(images.to(memory_format=trainer.memory_format), targets)
        return time.perf_counter() - start

    conn.send("ready")
    while (request := conn.recv()) is not None:
        kind, steps = request
        if kind == "profile":
            from torch.profiler import profile

            with profile() as prof:
                train(steps)
            conn.send(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
        else:
            conn.send(train(steps))
    conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # peak resident MiB
    if nproc > 1:
        dist.destroy_process_group()


def start_configs(args: argparse.Namespace, tmp: str) -> dict[str, list]:
    """Every configuration's processes, started with its own environment; name -> their pipes."""
    ctx = mp.get_context("spawn")
    pipes, saved = {}, os.environ.get(ENV)
    try:
        for name, config in chosen(args).items():
            os.environ[ENV] = str(CAPACITY if config[4] else ONEDNN_DEFAULT)  # read by the child at start-up
            port, pipes[name] = free_port(), []
            for rank in range(config[0]):
                mine, theirs = ctx.Pipe()
                out = f"{tmp}/{name.replace(' ', '_')}"
                ctx.Process(target=_worker, args=(rank, config, port, args, out, theirs), daemon=True).start()
                pipes[name].append(mine)
    finally:
        if saved is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = saved
    for conns in pipes.values():
        for conn in conns:
            if conn.recv() != "ready":
                raise RuntimeError("a benchmark process failed to start")
    return pipes


def ask(conns: list, request) -> list:
    """Send one request to all processes of a configuration, wait for all their answers."""
    for conn in conns:
        conn.send(request)
    return [conn.recv() for conn in conns]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data", default="/usr/share/datasets/fashion-mnist", help="Fashion-MNIST gzip IDX folder"
    )
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--steps", type=int, default=5, help="training steps per configuration and round")
    p.add_argument("--warmup", type=int, default=150, help="untimed training steps per configuration first")
    p.add_argument(
        "--configs", type=lambda text: text.split(","), default=DEFAULT_CONFIGS,
        help=f"comma-separated, of: {', '.join(CONFIGS)} (default: {', '.join(DEFAULT_CONFIGS)}; old and new always)",
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
    with tempfile.TemporaryDirectory() as tmp:
        pipes = start_configs(args, tmp)
        names = list(pipes)
        for name in names:
            ask(pipes[name], ("train", args.warmup))
        rates = {name: [] for name in names}
        for r in range(args.rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                rates[name].append(
                    chosen(args)[name][2] * args.steps / max(ask(pipes[name], ("train", args.steps)))
                )
        profiles = {name: ask(pipes[name], ("profile", args.steps))[0] for name in (OLD, NEW) if args.profile}
        peak_mib = {name: max(ask(conns, None)) for name, conns in pipes.items()}
    load_after = os.getloadavg()
    med = {name: statistics.median(v) for name, v in rates.items()}
    lines = [
        "| configuration | processes x threads, global batch | images/s (median) | all rounds | vs old default "
        "| peak memory per process |",
        "|---|---|---:|---|---:|---:|",
    ]
    for name, (nproc, threads, batch, *_) in chosen(args).items():
        tag = " (old default)" if name == OLD else " (new default)" if name == NEW else ""
        lines.append(
            f"| `{name}`{tag} | {nproc} x {threads}, {batch} ({batch // nproc} per process) | {med[name]:.1f} | "
            f"{', '.join(f'{x:.0f}' for x in rates[name])} | {med[name] / med[OLD]:.2f} | {peak_mib[name]:.0f} MiB |"
        )
    cmd = "python " + shlex.join(sys.argv)
    header = (
        f"Command: `{cmd}`\n\ntorch {torch.__version__}, {os.cpu_count()} CPUs; mbv2-small, Fashion-MNIST "
        f"1x28x28, full sandwich (4 subnets, in-place distillation {'on' if args.inplace_distill else 'off'}), "
        f"{args.warmup} warm-up steps, then {args.steps} steps per configuration per round, {args.rounds} "
        f"alternating rounds. 1-min load average before / after: {load_before[0]:.2f} / {load_after[0]:.2f}.\n"
    )
    table = "\n".join(lines)
    print(header)
    print(table)
    pairs = [(f"C weight gradient alone at {p}x1 b64", f"{p}x1 b64 +C", f"{p}x1 b64") for p in (1, 2)]
    pairs.append(("one process, 32 vs 64 images per step (C kernel)", "1x1 b32 +C", "1x1 b64 +C"))
    pairs += [
        (f"wide primitive cache alone at {p}x1 b64 +C", f"{p}x1 b64 +C +P", f"{p}x1 b64 +C") for p in (1, 2)
    ]
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
