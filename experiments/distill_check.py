"""Targeted check (issue 11): is in-place distillation what keeps the inherited weights below the same archs
trained alone? A second supernet, trained exactly like the full run's but with `--no-inplace-distill`, is
scored on the archs the full run shipped (same archs, same BN recalibration images, same test split), beside
the full run's supernet and, for the three archs trained alone, the from-scratch accuracy.

    python experiments/distill_check.py --run /work/runs/fm_full --other /work/runs/fm_nokd/supernet \
        --out experiments/results/fashion_mnist_full_distill.md
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from full_alone import picked_cards, shipped_cards  # noqa: E402

from extract.pipeline import checkpoint_eval_data, open_checkpoint  # noqa: E402
from supernet import ArchConfig  # noqa: E402
from supernet.files import atomic_write_text, write_json  # noqa: E402
from supernet.train.checkpoint import Checkpoint  # noqa: E402
from supernet.train.evaluate import evaluate_subnet  # noqa: E402


def scores(ckpt: Checkpoint, archs: list[tuple[str, ArchConfig]], cache_dir: Path) -> dict[str, dict]:
    """Validation and test accuracy of each arch after BN recalibration on the run's calibration images
    (what `supernet extract` ships with), cached per checkpoint weights (sha256) and arch."""
    cache = cache_dir / f"{ckpt.sha256[:16]}.json"
    done = json.loads(cache.read_text()) if cache.is_file() else {}
    todo = [(label, a) for label, a in archs if str(a) not in done]
    if todo:
        data = checkpoint_eval_data(ckpt, num_calib=None)
        model = copy.deepcopy(ckpt.model)
        for label, arch in todo:
            val = evaluate_subnet(model, arch, data.calib, data.val)
            test = evaluate_subnet(model, arch, data.calib, data.test)
            done[str(arch)] = {"val": val, "test": test}
            print(f"{ckpt.path}: {label} val {100 * val:.2f} test {100 * test:.2f}", flush=True)
            cache.parent.mkdir(parents=True, exist_ok=True)
            write_json(cache, done)
    return {"epochs": ckpt.epoch, "config": ckpt.config, "acc": done}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default="/work/runs/fm_full", help="run directory of fashion_mnist_full.py")
    p.add_argument("--other", required=True, help="the second supernet's training run directory")
    p.add_argument("--out", required=True, help="Markdown report")
    args = p.parse_args()
    torch.set_num_threads(1)
    root, other = Path(args.run), Path(args.other)
    ref = open_checkpoint(root / "supernet")
    archs = [
        (f"budget {c['search']['budget']:g} ms", ArchConfig.from_string(c["arch_string"]))
        for c in shipped_cards(root)
    ]  # every arch the run shipped (by budget), then the space's extremes
    archs += [("largest", ref.space.largest()), ("smallest", ref.space.smallest())]
    a = scores(ref, archs, root / "distill_check")
    b = scores(open_checkpoint(other), archs, root / "distill_check")
    scratch = {}
    for tag, card in picked_cards(root).items():
        path = root / "scratch" / f"{tag}.json"
        if path.is_file():
            scratch[card["arch_string"]] = (tag, json.loads(path.read_text())["test_acc"])
    ca, cb = a["config"].to_dict(), b["config"].to_dict()
    differ = {k: (ca[k], cb.get(k)) for k in ca if ca[k] != cb.get(k)}
    lines = [
        "# Targeted check (issue 11): the full run's archs with and without in-place distillation",
        "",
        f"Command: `python {shlex.join(sys.argv)}`",
        "",
        f"Supernet A: `{root / 'supernet'}` ({a['epochs']} epochs, in-place distillation "
        f"{'on' if ca['inplace_distill'] else 'off'}); supernet B: `{other}` ({b['epochs']} epochs, "
        f"in-place distillation {'on' if cb['inplace_distill'] else 'off'}). Training configs differ only in: "
        f"{', '.join(f'{k} {x!r} (A) vs {y!r} (B)' for k, (x, y) in differ.items()) or 'nothing'}. "
        f"Every arch the full run shipped (chosen by searching A, so this favours A), and the space's "
        f"extremes, scored on both with the same BN recalibration ({ca['calib_images']} seeded training "
        "images) on the 6k validation and the 10k test split; from scratch: the same arch trained alone "
        f"(the full run's scratch stage). 1-min load at the end {os.getloadavg()[0]:.2f} (accuracy does not "
        "depend on it).",
        "",
        "| arch | A val % | B val % | A test % | B test % | B - A test | from scratch test % | A - scratch | "
        "B - scratch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, arch in archs:
        ra, rb = a["acc"][str(arch)], b["acc"][str(arch)]
        tag, s = scratch.get(str(arch), (None, None))
        name = f"{label} ({tag})" if tag else label
        cells = [f"{100 * ra['val']:.2f}", f"{100 * rb['val']:.2f}", f"{100 * ra['test']:.2f}"]
        cells += [f"{100 * rb['test']:.2f}", f"{100 * (rb['test'] - ra['test']):+.2f}"]
        cells += (
            ["-", "-", "-"]
            if s is None
            else [f"{100 * s:.2f}"] + [f"{100 * (r['test'] - s):+.2f}" for r in (ra, rb)]
        )
        lines.append(f"| {name} `{arch}` | " + " | ".join(cells) + " |")
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
