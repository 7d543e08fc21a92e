"""Fashion-MNIST: does one supernet beat separately trained MobileNetV2s? (issue: the results table)

    python experiments/fashion_mnist.py pareto     # supernet searched at several ort-cpu budgets vs timm MBV2 widths
    python experiments/fashion_mnist.py ablations  # recipe pieces switched off one at a time

Every stage runs the user-facing commands (`supernet train`, `supernet latency build`, `supernet extract`)
and is skipped when its output already exists, so an interrupted run continues where it stopped. The
CPU budget is set by `--train-images` (a seeded subset of the 60k training images) and `--epochs`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from static_baseline import mobilenetv2_small_input, train_static  # noqa: E402

from latency.measure import export_onnx, measure_onnx_ms  # noqa: E402
from latency.table import LatencyTable  # noqa: E402
from latency.timing import Timing  # noqa: E402
from supernet import SearchSpace  # noqa: E402
from supernet.files import atomic_write, atomic_write_text  # noqa: E402
from supernet.train.config import TrainConfig  # noqa: E402
from supernet.train.data import FASHION_MNIST_DIR, load_data  # noqa: E402

PUBLISHED = [  # Fashion-MNIST test accuracy as published (not measured here)
    ("MobileNet", 95.0),
    ("ResNet-18", 94.9),
    ("Google AutoML (24 compute hours)", 93.9),
    ("WRN-28-10 + random erasing", 96.3),
]
WIDTHS = (0.35, 0.5, 0.75, 1.0)


def run(cmd: list[str]) -> None:
    print("$", shlex.join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def subset_data(src: Path, dst: Path, num_train: int, seed: int) -> Path:
    """A seeded subset of the training split in the same gzip IDX format (the test split stays whole)."""
    if (dst / "train-labels-idx1-ubyte.gz").is_file():
        return dst
    dst.mkdir(parents=True, exist_ok=True)

    def read(name: str) -> tuple[bytes, np.ndarray]:
        data = gzip.open(src / name).read()
        header = 4 + 4 * data[3]
        return data[:header], np.frombuffer(data, np.uint8, offset=header)

    (img_head, images), (lab_head, labels) = (
        read("train-images-idx3-ubyte.gz"),
        read("train-labels-idx1-ubyte.gz"),
    )
    keep = np.sort(np.random.default_rng(seed).permutation(len(labels))[:num_train])
    images = images.reshape(len(labels), -1)[keep]
    n = len(keep).to_bytes(4, "big")
    for name, data in (
        ("train-images-idx3-ubyte.gz", img_head[:4] + n + img_head[8:] + images.tobytes()),
        ("train-labels-idx1-ubyte.gz", lab_head[:4] + n + labels[keep].tobytes()),
    ):
        atomic_write(dst / name, lambda tmp, data=data: Path(tmp).write_bytes(gzip.compress(data)))
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        atomic_write(dst / name, lambda tmp, name=name: shutil.copyfile(src / name, tmp))
    return dst


def train_supernet(
    out: Path, data: Path | None, epochs: int, extra: list[str], space: str = "mbv2-small"
) -> dict:
    """Run (or resume) `supernet train`; return the final record (test accuracy of smallest/largest) and
    the command under "command". `data` None: the data set's default folder (no --data option)."""
    cmd = ["supernet", "train", "--space", space, "--dataset", "fashion-mnist"]
    cmd += ["--data", str(data)] if data is not None else []
    cmd += ["--epochs", str(epochs), "--out", str(out), "--quiet", *extra]
    if not (out / "metrics.jsonl").is_file() or not _records(out, "final"):
        run(cmd + (["--resume"] if (out / "checkpoint.json").is_file() else []))
    return {**_records(out, "images_per_s")[-1], **_records(out, "final")[-1], "command": shlex.join(cmd)}


def _records(out: Path, key: str) -> list[dict]:
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [rec for rec in lines if key in rec]


def budgets_for(table: LatencyTable, space: SearchSpace, count: int) -> list[float]:
    """`count` budgets spread between the smallest and the largest subnet's predicted latency."""
    lo, hi = table.predict_ms(space.smallest()), table.predict_ms(space.largest())
    return [round(float(b), 3) for b in np.linspace(lo * 1.1, hi * 0.95, count)]


def pareto(args: argparse.Namespace) -> None:
    root = Path(args.out)
    data = subset_data(Path(args.data), root / "data", args.train_images, args.seed)
    metrics = train_supernet(root / "supernet", data, args.epochs, [])
    space = SearchSpace.preset("mbv2-small")
    lut = root / "lut_ort-cpu.json"
    if not lut.is_file():
        run(
            [
                "supernet",
                "latency",
                "build",
                "--space",
                "mbv2-small",
                "--target",
                "ort-cpu",
                "--in-chans",
                "1",
                "--num-classes",
                "10",
                "--out",
                str(lut),
                "--quiet",
            ]
        )
    table = LatencyTable.load(lut)
    budgets = budgets_for(table, space, args.budgets)
    deploy = root / "deploy"
    if not (deploy / "search.json").is_file():
        run(
            [
                "supernet",
                "extract",
                "--checkpoint",
                str(root / "supernet"),
                "--lut",
                str(lut),
                "--budget-ms",
                ",".join(map(str, budgets)),
                "--evals",
                str(args.evals),
                "--out",
                str(deploy),
                "--quiet",
            ]
        )
    rows = []
    for card_path in sorted(deploy.glob("budget-*/card.json")):
        card = json.loads(card_path.read_text())
        rows.append(
            {
                "model": f"supernet subnet, budget {card['search']['budget']:g} ms",
                "onnx": card_path.parent / "model.onnx",
                "test_acc": card["accuracy"]["test"],
                "predicted_ms": card["latency"]["predicted"],
                "macs": card["macs"],
                "params": card["params"],
                "arch": card["arch_string"],
            }
        )
    config = TrainConfig(dataset="fashion-mnist", data_dir=str(data), epochs=args.epochs, seed=args.seed)
    bundle = load_data(
        "fashion-mnist", str(data), seed=config.seed, val_fraction=config.val_fraction, augment=True
    )
    resolution = max(space.resolutions)
    for width in WIDTHS:
        path = root / f"mbv2_{width:g}.json"
        onnx_path = root / f"mbv2_{width:g}.onnx"
        if not path.is_file():
            print(f"training timm MobileNetV2 x{width:g} alone ({args.epochs} epochs)", flush=True)
            torch.manual_seed(args.seed)
            model = mobilenetv2_small_input(width, 10, 1, config.drop_rate)
            result = train_static(model, bundle, config, resolution)
            from fvcore.nn import FlopCountAnalysis

            x = torch.zeros(1, 1, resolution, resolution)
            flops = (
                FlopCountAnalysis(model.eval(), x)
                .unsupported_ops_warnings(False)
                .uncalled_modules_warnings(False)
            )
            result |= {
                "macs": int(
                    sum(
                        v
                        for op, v in flops.by_operator().items()
                        if op in ("conv", "linear", "addmm", "matmul")
                    )
                ),
                "params": sum(p.numel() for p in model.parameters()),
            }
            onnx = export_onnx(model.eval(), x)
            atomic_write(onnx_path, lambda tmp, onnx=onnx: Path(tmp).write_bytes(onnx))
            atomic_write_text(path, json.dumps(result))
        result = json.loads(path.read_text())
        rows.append(
            {
                "model": f"timm MobileNetV2 x{width:g}, trained alone",
                "onnx": onnx_path,
                "test_acc": result["test_acc"],
                "predicted_ms": None,
                "macs": result["macs"],
                "params": result["params"],
                "arch": f"mobilenetv2 width {width:g} @ {resolution}px",
            }
        )
    # every model's latency measured side by side, interleaved, with the table's threads and statistic
    times = {i: [] for i in range(len(rows))}
    for _ in range(args.latency_rounds):
        for i, row in enumerate(rows):
            times[i].append(
                measure_onnx_ms(row["onnx"], Timing(repeats=30, stat=table.stat, threads=table.threads))
            )
    for i, row in enumerate(rows):
        row["measured_ms"] = float(np.median(times[i]))
    write_pareto(rows, metrics, args=args, budgets=budgets, table=table)


def write_pareto(rows: list[dict], metrics: dict, *, args: argparse.Namespace, budgets, table) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cmd = "python " + shlex.join(sys.argv)
    lines = [
        "# Fashion-MNIST: subnets of one supernet vs MobileNetV2s trained alone",
        "",
        f"Command: `{cmd}`",
        "",
        f"Training: {args.train_images} seeded training images of 60,000 (10% held out for validation/search), "
        f"{args.epochs} epochs, the same augmentation, optimizer, LR rule and label smoothing for every model; "
        f"test set: all 10,000 images. Latency: onnxruntime CPU, batch 1, {table.threads} thread(s), {table.stat} of 30 runs, "
        f"{args.latency_rounds} interleaved rounds per model on a shared 2-core machine. Search: coarse-to-fine, "
        f"{args.evals} evaluations shared by budgets {', '.join(f'{b:g}' for b in budgets)} ms (validation split).",
        "",
        f"Supernet after training ({metrics['images_per_s']:.0f} training images/s in the last epoch): test accuracy "
        f"of the smallest subnet {100 * metrics['test_acc_smallest']:.2f}%, largest {100 * metrics['test_acc_largest']:.2f}%.",
        "",
        "| model | test acc % | measured ms | predicted ms | MMACs | params (M) | arch |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in sorted(rows, key=lambda r: r["measured_ms"]):
        pred = f"{r['predicted_ms']:.3f}" if r["predicted_ms"] is not None else "-"
        lines.append(
            f"| {r['model']} | {100 * r['test_acc']:.2f} | {r['measured_ms']:.3f} | {pred} | "
            f"{r['macs'] / 1e6:.1f} | {r['params'] / 1e6:.3f} | `{r['arch']}` |"
        )
    lines += [
        "",
        "Published Fashion-MNIST test accuracy (not measured here; full 60k training set, long schedules):",
        "",
    ]
    lines += [f"- {name}: {acc}%" for name, acc in PUBLISHED]
    atomic_write_text(Path(args.results) / "fashion_mnist_pareto.md", "\n".join(lines) + "\n")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for kind, marker in (("supernet", "o"), ("timm", "s")):
        pts = sorted((r["measured_ms"], 100 * r["test_acc"]) for r in rows if r["model"].startswith(kind))
        ax.plot(
            *zip(*pts),
            marker=marker,
            label="supernet subnets" if kind == "supernet" else "MobileNetV2 trained alone",
        )
    ax.set_xlabel(f"measured latency, ort-cpu batch 1 ({table.threads} thread) [ms]")
    ax.set_ylabel("Fashion-MNIST test accuracy [%]")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    atomic_write(
        Path(args.results) / "fashion_mnist_pareto.png", lambda tmp: fig.savefig(tmp, format="png", dpi=120)
    )
    print((Path(args.results) / "fashion_mnist_pareto.md").read_text())


# The BigNAS recipe with one piece off at a time. Every variant states in-place distillation explicitly, so a
# run means the same whatever `supernet train`'s default is (it was on until these runs showed it worse);
# run directories are numbered by position here (v0, v1, ...): append, never reorder.
ABLATIONS = {
    "BigNAS recipe (in-place distillation on)": ["--inplace-distill"],
    "no sandwich (random subnets only)": ["--no-sandwich", "--no-inplace-distill", "--num-random", "4"],
    "no in-place distillation (today's default)": ["--no-inplace-distill"],
    "no zero-gamma": ["--no-zero-gamma", "--inplace-distill"],
    "no constant LR tail": ["--no-lr-tail", "--inplace-distill"],
    # today's default (no distillation) with one more piece off
    "no in-place distillation, no zero-gamma": ["--no-zero-gamma", "--no-inplace-distill"],
    "no in-place distillation, no constant LR tail": ["--no-lr-tail", "--no-inplace-distill"],
}


def ablations(args: argparse.Namespace) -> None:
    from supernet.train.checkpoint import load_checkpoint
    from supernet.train.data import calibration_images, stack
    from supernet.train.evaluate import evaluate_subnet

    root = Path(args.out)
    data = subset_data(Path(args.data), root / "data", args.train_images, args.seed)
    rows = []
    for i, (name, flags) in enumerate(ABLATIONS.items()):
        start = time.perf_counter()
        train_supernet(root / f"ablation-{i}", data, args.epochs, flags)
        ckpt = load_checkpoint(root / f"ablation-{i}")
        bundle = load_data(
            "fashion-mnist",
            str(data),
            seed=ckpt.config.seed,
            val_fraction=ckpt.config.val_fraction,
            augment=False,
        )
        calib = calibration_images(bundle, ckpt.config.calib_images, ckpt.config.seed)
        test_x, test_y = stack(bundle.test)
        accs = {
            k: evaluate_subnet(ckpt.model, arch, calib, test_x, labels=test_y)
            for k, arch in (("smallest", ckpt.space.smallest()), ("largest", ckpt.space.largest()))
        }
        rows.append((name, " ".join(flags) or "(defaults)", accs, time.perf_counter() - start))
    lines = [
        "# Fashion-MNIST ablations of the BigNAS recipe (mbv2-small)",
        "",
        f"Command: `python {shlex.join(sys.argv)}`",
        "",
        f"Each run: {args.train_images} seeded training images, {args.epochs} epochs, seed {args.seed}; test accuracy "
        "of the smallest and largest subnets after BN recalibration on the full 10,000-image test set. "
        "'No sandwich' trains 4 random subnets per step (the same number of subnet passes) on the labels.",
        "",
        "| variant | flags | smallest test % | largest test % |",
        "|---|---|---:|---:|",
    ]
    lines += [
        f"| {n} | `{f}` | {100 * a['smallest']:.2f} | {100 * a['largest']:.2f} |" for n, f, a, _ in rows
    ]
    atomic_write_text(Path(args.results) / "fashion_mnist_ablations.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", choices=("pareto", "ablations"))
    parser.add_argument("--data", default=FASHION_MNIST_DIR, help="Fashion-MNIST gzip IDX folder")
    parser.add_argument("--out", default="runs/fashion-mnist")
    parser.add_argument("--train-images", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--budgets", type=int, default=5)
    parser.add_argument("--evals", type=int, default=40)
    parser.add_argument("--latency-rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads for baseline training (as supernet train)"
    )
    parser.add_argument("--results", default=str(Path(__file__).parent / "results"), help="where tables go")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pareto(args) if args.table == "pareto" else ablations(args)


if __name__ == "__main__":
    main()
