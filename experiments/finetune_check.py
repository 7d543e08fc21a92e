"""Targeted check (issue 11): do the inherited weights of the shipped archs sit close to what the same arch
reaches trained alone? Each arch of the full Fashion-MNIST run's from-scratch comparison is cut from the
supernet with its inherited weights and trained alone for a short while at the recipe's floor LR (the
last 5% of the schedule, no warm-up); its test accuracy is reported beside the inherited and from-scratch
ones from the run. If a fraction of an epoch closes the gap, the shared weights are a near miss for that
arch (interference between subnets), not an untrained region.

    python experiments/finetune_check.py --run /work/runs/fm_full --epochs 1 \
        --out experiments/results/fashion_mnist_full_finetune.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from full_alone import picked_cards  # noqa: E402
from static_baseline import train_static  # noqa: E402

from extract.pipeline import open_checkpoint  # noqa: E402
from supernet import ArchConfig, extract_subnet  # noqa: E402
from supernet.files import atomic_write_text, write_json  # noqa: E402
from supernet.train.data import load_data  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default="/work/runs/fm_full", help="run directory of fashion_mnist_full.py")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--out", required=True, help="Markdown report")
    args = p.parse_args()
    torch.set_num_threads(1)
    root = Path(args.run)
    ckpt = open_checkpoint(root / "supernet")
    run_cfg = ckpt.config
    floor_lr = run_cfg.lr * run_cfg.lr_floor
    config = dataclasses.replace(
        run_cfg, epochs=args.epochs, lr=floor_lr, warmup_epochs=0.0, lr_decay_rate=1.0, drop_rate=0.0
    )
    bundle = load_data(
        "fashion-mnist", config.data_dir, seed=config.seed, val_fraction=config.val_fraction, augment=True
    )
    rows = []
    for tag, card in picked_cards(root).items():
        arch = ArchConfig.from_string(card["arch_string"])
        cache = root / "finetune" / f"{tag}-e{args.epochs}.json"
        if not cache.is_file():
            cache.parent.mkdir(parents=True, exist_ok=True)
            ckpt.model.set_active(arch)
            model = extract_subnet(ckpt.model, arch)
            print(f"{tag}: {arch}, {args.epochs} epoch(s) at lr {floor_lr:g}", flush=True)
            write_json(cache, train_static(model, bundle, config, arch.resolution))
        tuned = json.loads(cache.read_text())
        scratch = root / "scratch" / f"{tag}.json"
        scratch_acc = json.loads(scratch.read_text())["test_acc"] if scratch.is_file() else None
        inherited = card["accuracy"]["test"]
        rows.append((tag, arch, inherited, tuned, scratch_acc))
    lines = [
        "# Targeted check (issue 11): inherited weights fine-tuned briefly vs the same arch from scratch",
        "",
        f"Command: `python {shlex.join(sys.argv)}`",
        "",
        f"Supernet checkpoint {root / 'supernet'} (seed {run_cfg.seed}); each arch trained alone from its "
        f"inherited weights for {args.epochs} epoch(s) of the 54k training images at a constant lr "
        f"{floor_lr:g} (the recipe's 5% floor), augmentation as in the run, no dropout; test on the 10k test "
        "split (never used for a choice); CPU-min: process CPU time of the fine-tuning. "
        f"Load does not change accuracy (machine shared; 1-min load at the end {os.getloadavg()[0]:.2f}).",
        "",
        "| arch | inherited test % | fine-tuned test % | from scratch test % | fine-tune CPU-min | arch string |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for tag, arch, inherited, tuned, scratch_acc in rows:
        cpu = sum(e.get("cpu_time_s", 0.0) for e in tuned["epochs"]) / 60
        lines.append(
            f"| {tag} | {100 * inherited:.2f} | {100 * tuned['test_acc']:.2f} | "
            f"{'-' if scratch_acc is None else f'{100 * scratch_acc:.2f}'} | {cpu:.1f} | `{arch}` |"
        )
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
