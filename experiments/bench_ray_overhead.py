"""Training throughput on Ray Train against the plain process, measured side by side in one run.

Every configuration trains the same recipe for `--epochs` epochs from scratch and we take the training
images/s of its fastest epoch (the Trainer times the training loop only: no start-up, validation or
checkpointing). Rounds alternate the configurations so load from other users of the machine hits all
of them alike. The best round of each configuration is the figure compared (the one least slowed by
other load, as for any timing); every round is listed.

- plain: `Trainer` in a fresh process (not the Ray driver), `--threads` torch threads;
- ray x1: one Ray Train worker with `--threads` CPUs (the overhead ratio: goal <= 1.10);
- ray xN: N workers with `--threads` CPUs each (global images/s = per-rank images/s x N);
- with `--gpu`, ray x1 on one GPU (NCCL backend) against the plain process on the same GPU.

    python experiments/bench_ray_overhead.py --workers 2 --out experiments/results/ray_overhead.md
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from supernet.distributed.cluster import connect, shutdown
from supernet.distributed.launch import RayConfig, train_distributed
from supernet.files import atomic_write_text
from supernet.train.config import TrainConfig


def best_epoch_rate(run_dir: Path) -> float:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return max(r["images_per_s"] for r in records if "images_per_s" in r)


def run_plain(config: TrainConfig, threads: int) -> float:
    """In a fresh process and session, like a Ray worker: this process hosts the Ray driver's threads, and
    Linux's autogroup scheduler shares the CPU between sessions, so both must start alike to compare."""
    code = (
        "import sys, torch; from supernet.train.config import TrainConfig; from supernet.train.trainer import Trainer; "
        "torch.set_num_threads(int(sys.argv[2])); Trainer(TrainConfig.load(sys.argv[1])).fit()"
    )
    path = Path(config.out).with_suffix(".json")
    atomic_write_text(path, config.to_json())
    subprocess.run(
        [sys.executable, "-c", code, str(path), str(threads)],
        check=True,
        capture_output=True,
        start_new_session=True,
    )
    return best_epoch_rate(Path(config.out))


def run_ray(config: TrainConfig, workers: int, threads: int, gpus: float) -> float:
    final = train_distributed(
        config, RayConfig(workers=workers, cpus_per_worker=threads, gpus_per_worker=gpus)
    )
    return best_epoch_rate(Path(config.out)) * final["world_size"]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--space", default="mbv2-small")
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads of the plain process and of each worker"
    )
    parser.add_argument("--workers", type=int, default=2, help="N for the multi-worker row")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--gpu", action="store_true", help="run on one GPU (plain vs one NCCL worker)")
    parser.add_argument("--out", help="write the markdown table here")
    args = parser.parse_args()

    device = "cuda" if args.gpu else "cpu"
    base = TrainConfig(space=args.space, dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size,
                       calib_images=64, calib_batch_size=64, device=device, progress=False)  # fmt: skip
    gpus = 1.0 if args.gpu else 0.0
    rows = {
        "plain": lambda c: run_plain(c, args.threads),
        "ray x1": lambda c: run_ray(c, 1, args.threads, gpus),
    }
    if not args.gpu and args.workers > 1:
        rows[f"ray x{args.workers}"] = lambda c: run_ray(c, args.workers, args.threads, 0.0)
    rates: dict[str, list[float]] = {name: [] for name in rows}
    load_before = os.getloadavg()[0]
    connect(None, num_cpus=None if args.gpu else max(args.workers, 1) * args.threads)
    try:
        for r in range(args.rounds):
            for name, run in rows.items():
                with tempfile.TemporaryDirectory() as tmp:
                    config = TrainConfig(**{**base.to_dict(), "out": str(Path(tmp) / "run")})
                    rates[name].append(run(config))
                print(f"round {r + 1} {name}: {rates[name][-1]:.1f} images/s", flush=True)
    finally:
        shutdown()

    load_after = os.getloadavg()[0]
    plain = max(rates["plain"])
    lines = [
        "# Ray Train overhead: training images/s, plain process vs Ray workers",
        "",
        f"Command: `python {' '.join(shlex.quote(a) for a in sys.argv)}`",
        "",
        f"Device: {torch.cuda.get_device_name() if args.gpu else f'CPU, {args.threads} torch thread(s) per process'}; "
        f"{args.space} on {args.dataset}, batch {args.batch_size} per worker, {args.epochs} epochs per run, "
        f"fastest epoch per run, best of {args.rounds} alternating rounds. The machine is shared, so absolute "
        "numbers are noisy; the ratios come from the same run.",
        "",
        f"Machine load (1-minute load average) before / after: {load_before:.1f} / {load_after:.1f} on "
        f"{os.cpu_count()} cores. `time per image vs plain` above 1 is slower than the plain process.",
        "",
        "| configuration | images/s (best round) | all rounds | median | time per image vs plain (best) |",
        "|---|---:|---|---:|---:|",
    ]
    for name, values in rates.items():
        best, median = max(values), statistics.median(values)
        rounds = ", ".join(f"{v:.1f}" for v in values)
        lines.append(f"| {name} | {best:.1f} | {rounds} | {median:.1f} | {plain / best:.3f} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        atomic_write_text(Path(args.out), table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
