"""Issue 11, the proof at a real budget: all of Fashion-MNIST, supernet subnets vs MobileNetV2s trained alone.

    python experiments/fashion_mnist_full.py [--bench-prefix bench]          # every stage, in order
    python experiments/fashion_mnist_full.py --stages baselines              # one stage (see STAGES)

Stages (each is skipped when its output exists in --out, so a killed run continues where it stopped):
supernet (train or resume it), lut (ort-cpu latency table, under --bench-prefix), pareto (one `supernet
extract` search per budget), baselines (timm MobileNetV2 x0.35/0.5/0.75/1.0 trained alone), scratch (3
extracted archs trained alone), ablations (recipe pieces off, 2 seeds, reduced data), search (coarse-to-fine
vs random vs evolution at equal evaluations, shared per-arch score cache), measure (interleaved latency of
every ONNX model, under --bench-prefix), report (experiments/results/<name>.md + .png; runs on partial
results too). Every command a stage runs is recorded in <out>/commands.json and quoted in the report.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from fashion_mnist import ABLATIONS, WIDTHS, budgets_for, subset_data, train_supernet  # noqa: E402
from full_alone import reuse_alone, scratch_picks, shipped_cards, train_alone, train_arch_alone  # noqa: E402
from full_lut import copy_lut, table_load  # noqa: E402
from full_proc import holds_cpu_lock, load_line, record, run_logged, wait_for_lock  # noqa: E402
from full_report import write_report  # noqa: E402
from full_stats import epochs_into_tail  # noqa: E402
from static_baseline import mobilenetv2_small_input  # noqa: E402

from latency.measure import measure_onnx_ms  # noqa: E402
from latency.table import LatencyTable  # noqa: E402
from latency.timing import Timing  # noqa: E402
from supernet import ArchConfig, SearchSpace  # noqa: E402
from supernet.files import write_json  # noqa: E402
from supernet.train.config import TrainConfig  # noqa: E402
from supernet.train.data import FASHION_MNIST_DIR  # noqa: E402

STAGES = (
    "supernet", "lut", "pareto", "baselines", "scratch", "inherit", "ablations", "search", "measure", "report",
)  # fmt: skip


def self_command(args: argparse.Namespace, stage: str) -> list[str]:
    """This driver restricted to one stage, with the options that matter for it (the recorded command)."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--out", args.out, "--stages", stage]
    flags = "data train_images epochs stretch batch_size lr seed threads latency_rounds".split()
    flags += [f for f, d in DEFAULTS.items() if getattr(args, f, d) != d]
    for flag in flags:
        argv += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    if stage == "baselines" and args.widths != list(WIDTHS):
        argv += ["--widths", ",".join(f"{w:g}" for w in args.widths)]
    return argv


DEFAULTS = {
    "device": "cpu", "loader_workers": 0, "scratch_archs": "", "space": "mbv2-small", "baselines_from": "",
    "scratch_from": "",
}  # fmt: skip


def space_arg(args: argparse.Namespace) -> str:
    """The search space of the supernet and of every extracted arch: a preset name or a YAML/JSON file."""
    return getattr(args, "space", DEFAULTS["space"])


def train_data(args: argparse.Namespace, root: Path) -> Path | None:
    """None: the whole data set from its default folder (the supernet command then has no --data)."""
    if not args.train_images:
        return None if args.data == FASHION_MNIST_DIR else Path(args.data)
    return subset_data(Path(args.data), root / "data", args.train_images, args.seed)


def schedule(args: argparse.Namespace) -> dict[str, float]:
    """Warm-up and decay epochs of every model: the defaults times --stretch, so that a longer run follows
    the same LR curve over its epochs as the 12-epoch one (not 12 epochs of decay and then the floor)."""
    d = TrainConfig()
    return {
        "warmup_epochs": d.warmup_epochs * args.stretch,
        "lr_decay_epochs": d.lr_decay_epochs * args.stretch,
    }


def train_flags(args: argparse.Namespace, seed: int) -> list[str]:
    flags = ["--batch-size", str(args.batch_size), "--lr", f"{args.lr:g}", "--seed", str(seed)]
    if args.stretch != 1:
        flags += [f"--{k.replace('_', '-')}={v:g}" for k, v in schedule(args).items()]
    if args.nproc:
        flags += ["--nproc-per-node", str(args.nproc)]
    device, workers = getattr(args, "device", DEFAULTS["device"]), getattr(args, "loader_workers", 0)
    if device != DEFAULTS["device"]:
        flags += ["--device", device]
    if workers:
        flags += ["-j", str(workers)]
    return flags + ["--threads", str(args.threads)]


def stage_supernet(args, root: Path) -> None:
    out = root / "supernet"
    wait_for_lock(out)
    data, flags = train_data(args, root), train_flags(args, args.seed)
    final = train_supernet(out, data, args.epochs, flags, space=space_arg(args))
    record(root, "supernet", final["command"])


def stage_lut(args, root: Path) -> None:
    lut = root / "lut_ort-cpu.json"
    if lut.is_file() and not (root / ".lut-building").exists():  # a killed build is resumed by the CLI
        return
    if args.lut_from:
        meta = copy_lut(Path(args.lut_from), lut, SearchSpace.resolve(space_arg(args)))
        return record(root, "lut", f"copied from {args.lut_from}", load=table_load(meta))
    cmd = ["supernet", "latency", "build", "--space", space_arg(args), "--target", "ort-cpu"]
    cmd += ["--in-chans", "1", "--num-classes", "10", "--threads", "1", "--out", str(lut), "-q"]
    (root / ".lut-building").touch()
    full = [*shlex.split(args.bench_prefix), *cmd]
    text = run_logged(full, own_session=bool(args.bench_prefix))
    (root / ".lut-building").unlink()
    # without a `bench` wrapper: the load the build itself recorded
    record(root, "lut", shlex.join(full), load=load_line(text) or table_load(LatencyTable.load(lut).metadata))


def budgets(args, root: Path) -> list[float]:
    """The budgets, fixed once from the table (smallest to largest subnet) and kept in budgets.json."""
    path = root / "budgets.json"
    if not path.is_file():
        table = LatencyTable.load(root / "lut_ort-cpu.json")
        write_json(path, budgets_for(table, SearchSpace.resolve(space_arg(args)), args.budgets))
    return json.loads(path.read_text())


def stage_pareto(args, root: Path) -> None:
    """One search per budget, each with --evals scored archs, so neighbouring budgets compete less."""
    cmds, lut = [], root / "lut_ort-cpu.json"
    for i, budget in enumerate(budgets(args, root)):
        out = root / "deploy" / f"b{i}"
        cmd = ["supernet", "extract", "--checkpoint", str(root / "supernet"), "--lut", str(lut)]
        cmd += f"--budget {budget:g} --unit ms --evals {args.evals} --seed {args.seed}".split()
        cmd += ["--out", str(out), "-q"]
        if not (out / "card.json").is_file():
            run_logged(cmd)
        cmds.append(shlex.join(cmd))
    record(root, "pareto", " && ".join(cmds))


def recipe(args, data: Path | None, seed: int) -> TrainConfig:
    return TrainConfig(
        dataset="fashion-mnist",
        data_dir=None if data is None else str(data),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=seed,
        device=getattr(args, "device", DEFAULTS["device"]),  # other drivers pass their own arguments
        loader_workers=getattr(args, "loader_workers", DEFAULTS["loader_workers"]),
        **schedule(args),
    )


def stage_baselines(args, root: Path) -> None:
    config = recipe(args, train_data(args, root), args.seed)
    for width in args.widths:
        print(f"timm MobileNetV2 x{width:g} alone, {config.epochs} epochs", flush=True)
        torch.manual_seed(args.seed)
        model = mobilenetv2_small_input(width, 10, 1, config.drop_rate)
        path = root / "baselines" / f"mbv2_{width:g}.json"
        if args.baselines_from:  # the family does not depend on the supernet's space: reuse its results
            reuse_alone(Path(args.baselines_from) / path.name, path, model, 32)
        else:
            train_alone(model, path, config, 32)
    subset = args.widths != list(WIDTHS)
    key = f"baselines x{','.join(f'{w:g}' for w in args.widths)}" if subset else "baselines"
    record(root, key, shlex.join(self_command(args, "baselines")))


def stage_scratch(args, root: Path) -> None:
    config = recipe(args, train_data(args, root), args.seed)
    for tag, pick in scratch_picks(args, root).items():
        arch = ArchConfig.from_string(pick["arch"])
        print(f"{tag} arch {arch} from scratch, {config.epochs} epochs", flush=True)
        path = root / "scratch" / f"{tag}.json"
        reuse = Path(args.scratch_from) / path.name if args.scratch_from else None
        train_arch_alone(arch, path, config, space=SearchSpace.resolve(space_arg(args)), reuse=reuse)
        if "arch" not in json.loads(path.read_text()):
            write_json(path, {**json.loads(path.read_text()), "arch": str(arch), "budget": pick["budget"]})
    command = self_command(args, "scratch")
    tags = ["--scratch-tags", args.scratch_tags] if args.scratch_tags else []
    record(root, f"scratch {args.scratch_tags}".strip(), shlex.join(command + tags))


def stage_inherit(args, root: Path) -> None:
    """Inherited weights of every from-scratch arch that no pareto search shipped (--scratch-archs picks):
    `supernet export --arch` from the supernet (BN recalibration, test accuracy on its card)."""
    shipped = {c["arch_string"] for c in shipped_cards(root)}
    cmds = []
    for path in sorted((root / "scratch").glob("*.json")):
        arch = json.loads(path.read_text()).get("arch")
        out = root / "inherit" / path.stem
        if arch is None or arch in shipped:
            continue
        cmd = ["supernet", "export", "--checkpoint", str(root / "supernet"), "--arch", arch]
        cmd += ["--out", str(out), "--threads", str(args.threads), "-q"]
        if not (out / "card.json").is_file():
            run_logged(cmd)
        cmds.append(shlex.join(cmd))
    if cmds:
        record(root, "inherit", " && ".join(cmds))


def ablation_epochs(args) -> int:
    d, sched = TrainConfig(), schedule(args)
    return args.ablation_epochs or epochs_into_tail(
        sched["warmup_epochs"], d.lr_decay_rate, sched["lr_decay_epochs"], d.lr_floor
    )


def stage_ablations(args, root: Path) -> None:
    data = subset_data(Path(args.data), root / "ablations" / "data", args.ablation_images, 0)
    meta = dict(epochs=ablation_epochs(args), images=args.ablation_images, auto=not args.ablation_epochs)
    driver = shlex.join([sys.executable, *sys.argv])
    record(root, "ablations", f"{driver} (until every run has finished: then each run's command)", **meta)
    cmds = []
    for seed in range(args.ablation_seeds):  # seed-major: a stopped run leaves whole seeds behind
        for i, flags in enumerate(ABLATIONS.values()):
            out = root / "ablations" / f"v{i}-s{seed}"
            final = train_supernet(out, data, meta["epochs"], [*train_flags(args, seed), *flags])
            cmds.append(final["command"])
    record(root, "ablations", " && ".join(cmds), **meta)


def search_budgets(root: Path, count: int = 2) -> list[float]:
    """Budgets of the Pareto sweep for the strategy comparison: a third and two thirds of the way up (the
    first `count` of them)."""
    bs = json.loads((root / "budgets.json").read_text())
    return [bs[len(bs) // 3], bs[(2 * len(bs)) // 3]][:count]


def stage_search(args, root: Path) -> None:
    out = root / "search" / "compare.md"
    budgets_arg = ",".join(f"{b:g}" for b in search_budgets(root, args.search_budgets))
    cmd = [sys.executable, str(HERE / "search_compare.py"), "--checkpoint", str(root / "supernet")]
    cmd += ["--lut", str(root / "lut_ort-cpu.json"), "--budgets", budgets_arg]
    cmd += ["--evals", str(args.search_evals)]
    cmd += ["--seeds", str(args.seeds), "--cache", str(root / "search" / "cache.json")]
    cmd += ["--out", str(out)]
    if not out.with_suffix(".json").is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        run_logged(cmd)
    record(root, "search", shlex.join(cmd))


def onnx_models(root: Path) -> dict[str, Path]:
    models = {f"deploy/{p.parent.name}": p for p in sorted((root / "deploy").glob("b*/model.onnx"))}
    models |= {f"baselines/{p.stem}": p for p in sorted((root / "baselines").glob("mbv2_*.onnx"))}
    return models


def stage_measure(args, root: Path) -> None:
    """Every shipped ONNX model timed side by side, interleaved, with the table's threads and statistic."""
    path = root / "latency_measured.json"
    models = onnx_models(root)
    if path.is_file() and set(json.loads(path.read_text())["ms"]) == set(models):
        return
    if args.bench_prefix and not args.in_bench:
        full = [*shlex.split(args.bench_prefix), *self_command(args, "measure"), "--in-bench"]
        text = run_logged(full, own_session=True)
        record(root, "measure", shlex.join(full), load=load_line(text))
        return
    table = LatencyTable.load(root / "lut_ort-cpu.json")
    times = {name: [] for name in models}
    for _ in range(args.latency_rounds):
        for name, onnx in models.items():
            times[name].append(
                measure_onnx_ms(onnx, Timing(repeats=30, stat=table.stat, threads=table.threads))
            )
    ms = {name: float(np.median(t)) for name, t in times.items()}
    write_json(path, {"ms": ms, "threads": table.threads, "stat": table.stat, "rounds": args.latency_rounds})
    if not args.in_bench:
        record(root, "measure", shlex.join(self_command(args, "measure")), load=os.getloadavg()[0])


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="/work/runs/fm_full", help="run directory of every stage")
    p.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    p.add_argument("--data", default=FASHION_MNIST_DIR, help="Fashion-MNIST gzip IDX folder")
    p.add_argument("--train-images", type=int, default=0, help="seeded training subset (0: all 60,000)")
    p.add_argument("--epochs", type=int, default=12, help="every model: supernet, baselines, from scratch")
    p.add_argument(
        "--stretch", type=float, default=1.0, help="every model: warm-up and LR decay epochs x this"
    )
    p.add_argument("--batch-size", type=int, default=128, help="global batch of every model")
    p.add_argument("--lr", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0, help="training, data subset and search seed")
    p.add_argument(
        "--space", default=DEFAULTS["space"], help="supernet search space: a preset or a YAML/JSON file"
    )
    p.add_argument("--nproc", type=int, default=2, help="supernet train --nproc-per-node (0: leave it out)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--device", default=DEFAULTS["device"], help="training device of every model: cpu or cuda")
    p.add_argument("--loader-workers", type=int, default=0, help="data-loader processes per training run")
    p.add_argument(
        "--scratch-archs",
        default="",
        help="stage scratch: JSON file {tag: {arch, budget}} (default: pareto's)",
    )
    p.add_argument("--scratch-tags", default="", help="stage scratch: only these tags (comma-separated)")
    p.add_argument("--budgets", type=int, default=6, help="ort-cpu budgets, smallest to largest subnet")
    p.add_argument("--evals", type=int, default=60, help="archs scored per budget (one search per budget)")
    p.add_argument(
        "--search-evals", type=int, default=40, help="archs scored per strategy run (stage search)"
    )
    p.add_argument("--seeds", type=int, default=5, help="search seeds per strategy (stage search)")
    p.add_argument(
        "--search-budgets", type=int, choices=(1, 2), default=2, help="stage search: budgets compared"
    )
    p.add_argument(
        "--baselines-from",
        default="",
        help="stage baselines: reuse the results in this folder (mbv2_<width>.json) of the same recipe",
    )
    p.add_argument(
        "--scratch-from",
        default="",
        help="stage scratch: reuse the results in this folder (<tag>.json) of the same archs and recipe",
    )
    p.add_argument("--widths", type=floats, default=list(WIDTHS), help="baselines: MobileNetV2 widths")
    p.add_argument("--ablation-images", type=int, default=20000)
    p.add_argument(
        "--ablation-epochs", type=int, default=0, help="0: one epoch past the LR reaching its floor"
    )
    p.add_argument("--ablation-seeds", type=int, default=2)
    p.add_argument("--latency-rounds", type=int, default=5)
    p.add_argument(
        "--lut-from", default="", help="stage lut: reuse this validated ort-cpu table, do not build"
    )
    p.add_argument("--bench-prefix", default="", help="wraps the latency stages, e.g. 'bench'")
    p.add_argument("--in-bench", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--results", default=str(HERE / "results"), help="folder of the report")
    p.add_argument("--name", default="fashion_mnist_full", help="report file name (.md and .png)")
    p.add_argument(
        "--sections-from",
        default="",
        help="report: sections this run does not have (ablations, search) link to this report name",
    )
    args = p.parse_args(argv)
    stages = args.stages.split(",")
    if bad := [s for s in stages if s not in STAGES]:
        p.error(f"unknown stage(s) {','.join(bad)}; allowed: {','.join(STAGES)}")
    if args.bench_prefix.split()[:1] == ["bench"] and not args.in_bench and holds_cpu_lock():
        p.error(
            "--bench-prefix bench under `heavy` would wait for itself; run the driver as a long run instead"
        )
    torch.set_num_threads(args.threads)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    for stage in STAGES:
        if stage in stages:
            print(f"== stage {stage}", flush=True)
            if stage == "report":
                write_report(root, args)
            else:
                globals()[f"stage_{stage}"](args, root)


if __name__ == "__main__":
    main()
