"""Coarse-to-fine vs random search vs evolution at equal evaluations, on a trained supernet.

Each (budget, seed, strategy) run gets its own `ArchEvaluator` with the same cap on scored archs. Scores
are deterministic (fixed calibration images, fixed validation split), so one shared score cache only
saves wall time: every run still counts each distinct arch it scores. The chosen arch of each run is
also scored on the test split, which no search ever sees.

    .venv/bin/python experiments/search_compare.py --checkpoint runs/digits --target macs \
        --budgets 4,8,16 --evals 30 --seeds 5 --out experiments/results/search_compare_digits.md
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from full_stats import evals_to_best  # noqa: E402

from extract.cli import SEARCH_CALIB_IMAGES  # noqa: E402
from extract.evaluator import ArchEvaluator  # noqa: E402
from extract.pipeline import load_eval_data, open_checkpoint, open_table, score_fn  # noqa: E402
from extract.search import STRATEGIES, run_search  # noqa: E402
from latency.build import count_table  # noqa: E402
from supernet.files import atomic_write, atomic_write_text, write_json  # noqa: E402
from supernet.train.evaluate import evaluate_subnet  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--lut", help="latency table; without it an exact count table for --target is built")
    p.add_argument("--target", default="macs", help="macs or params when no --lut is given")
    p.add_argument("--budgets", required=True, help="comma-separated budgets in the table's unit")
    p.add_argument("--evals", type=int, default=30, help="scored archs per run (equal for every strategy)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument(
        "--search-calib-images", type=int, default=SEARCH_CALIB_IMAGES, help="as in `supernet extract`"
    )
    p.add_argument(
        "--cache",
        help="JSON file of per-arch validation/test scores shared by every run and kept across invocations "
        "(a killed comparison continues; a repeated arch costs nothing)",
    )
    p.add_argument(
        "--out", required=True, help="markdown report; a PNG of the same name is written beside it"
    )
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    start = time.time()
    ckpt = open_checkpoint(args.checkpoint)
    model = ckpt.model
    if args.lut:
        table = open_table(args.lut, model, target=None)
    else:
        table = count_table(ckpt.space, args.target, model.in_chans, model.num_classes)
    data = load_eval_data(ckpt.config, ckpt.space, num_search_calib=args.search_calib_images)
    score = score_fn(model, data)
    budgets = [float(b) for b in args.budgets.split(",")]
    strategies = args.strategies.split(",")

    cache = ScoreCache(args.cache, f"{ckpt.sha256}/search-calib-{args.search_calib_images}")
    val_cache: dict = {}  # the archs scored in this invocation or found in the cache, for the report

    def val_score(arch):
        val_cache[arch] = cache.get("val", arch, lambda: score(arch))
        return val_cache[arch]

    def test_score(arch):
        return cache.get("test", arch, lambda: evaluate_subnet(model, arch, data.calib, data.test))

    results: dict = {}  # (budget, strategy) -> list of (val, test, curve)
    for budget in budgets:
        for strategy in strategies:
            for seed in range(args.seeds):
                ev = ArchEvaluator(val_score, table.predict, args.evals)
                best = run_search(ckpt.space, ev, budgets_ms=[budget], strategy=strategy, seed=seed)[budget]
                curve, top = [], 0.0
                for e in ev.history:
                    top = max(top, e.score if e.latency_ms <= budget else 0.0)
                    curve.append(top)
                results.setdefault((budget, strategy), []).append(
                    (best.score, test_score(best.arch), curve, best)
                )
            print(
                f"budget {budget:g} {strategy}: val {[round(r[0], 4) for r in results[(budget, strategy)]]}"
            )
    elapsed = time.time() - start
    write_report(
        args, ckpt, table=table, budgets=budgets, strategies=strategies, results=results, val_cache=val_cache,
        data=data, elapsed=elapsed,
    )  # fmt: skip


class ScoreCache:
    """Per-arch scores ("val", "test") of one checkpoint, optionally persisted to a JSON file after every
    new score (atomic), so a killed comparison continues and a repeated arch costs nothing."""

    def __init__(self, path: str | None, key: str):
        self.path, self.key, self.data = Path(path) if path else None, key, {"val": {}, "test": {}}
        if self.path is not None and self.path.is_file():
            saved = json.loads(self.path.read_text())
            if saved.get("key") != key:
                sys.exit(
                    f"error: score cache {self.path} belongs to {saved.get('key')}, not {key}; use another --cache"
                )
            self.data = {k: dict(saved.get(k, {})) for k in ("val", "test")}

    def get(self, split: str, arch, compute) -> float:
        name = str(arch)
        if name not in self.data[split]:
            self.data[split][name] = float(compute())
            if self.path is not None:
                write_json(self.path, {"key": self.key, **self.data})
        return self.data[split][name]


def _mean_sd(xs: list[float]) -> str:
    return f"{100 * statistics.mean(xs):.2f} ± {100 * (statistics.stdev(xs) if len(xs) > 1 else 0):.2f}"


def _wtl(xs: list[float], baseline: list[float]) -> str:
    """Wins / ties / losses of paired runs (same seed) against the baseline."""
    w = sum(x > b for x, b in zip(xs, baseline))
    t = sum(x == b for x, b in zip(xs, baseline))
    return f"{w} / {t} / {len(xs) - w - t}"


def _checkpoint_line(ckpt) -> str:
    """Which run was searched: enough to retrain it (options that differ from the TrainConfig defaults)."""
    from supernet.train.config import TrainConfig

    defaults = TrainConfig().to_dict()
    changed = {
        k: v
        for k, v in ckpt.config.to_dict().items()
        if defaults.get(k) != v and k not in ("out", "progress")
    }
    return (
        f"Checkpoint: {ckpt.space.name} supernet on {ckpt.config.dataset}, epoch {ckpt.epoch}, weights sha256 "
        f"{ckpt.sha256[:12]}; training options other than the defaults: {changed or 'none'}."
    )


def write_report(args, ckpt, *, table, budgets, strategies, results, val_cache, data, elapsed) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.out)
    unit = table.unit
    command = ".venv/bin/python experiments/search_compare.py " + " ".join(map(shlex.quote, sys.argv[1:]))
    lines = [
        f"# Search strategies at equal evaluations: {Path(args.checkpoint).name}, budgets in {unit}",
        "",
        f"Made by `{command}` in {elapsed / 60:.1f} min on {torch.get_num_threads()} thread(s) (shared 2-core machine).",
        "",
        _checkpoint_line(ckpt),
        "",
        f"Each run scores at most {args.evals} distinct archs (validation accuracy after BN recalibration on "
        f"{len(data.search_calib)} training images; {len(data.val)} validation images); {args.seeds} seeds per "
        f"strategy and budget; table target `{table.target}`. Test accuracy ({len(data.test)} images, BN "
        f"recalibrated on {len(data.calib)} training images as in the export) is of each run's chosen arch, "
        "which the search never saw. Mean ± sd over seeds, in %.",
        "",
        "| budget | strategy | archs scored | val acc of chosen | test acc of chosen | latency of chosen "
        "| wins / ties / losses vs random (val) | (test) | runs reaching the best any run found | evals to reach it "
        "(median of those) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for budget in budgets:
        best_any = max((v for a, v in val_cache.items() if table.predict(a) <= budget), default=float("nan"))
        rand = results.get((budget, "random"), [])
        for strategy in strategies:
            rs = results[(budget, strategy)]
            vals, tests = [r[0] for r in rs], [r[1] for r in rs]
            lat = statistics.mean(r[3].latency_ms for r in rs)
            scored = statistics.mean(len(r[2]) for r in rs)
            wtl_val = _wtl(vals, [r[0] for r in rand]) if rand and strategy != "random" else "-"
            wtl_test = _wtl(tests, [r[1] for r in rand]) if rand and strategy != "random" else "-"
            hit = [n for n in (evals_to_best(r[2], best_any) for r in rs) if n is not None]
            to_best = f"{statistics.median(hit):g}" if hit else "never"
            lines.append(
                f"| {budget:g} | {strategy} | {scored:g} | {_mean_sd(vals)} | {_mean_sd(tests)} | {lat:.4g} "
                f"| {wtl_val} | {wtl_test} | {len(hit)} / {len(rs)} | {to_best} |"
            )
        lines.append(f"| {budget:g} | best arch any run scored | | {100 * best_any:.2f} | | | | | | |")
    png = out.with_suffix(".png")
    lines += [
        "",
        f"Best-so-far validation accuracy against evaluations (mean over seeds): ![curves]({png.name})",
        "",
    ]
    fig, axes = plt.subplots(1, len(budgets), figsize=(4 * len(budgets), 3.2), dpi=110, squeeze=False)
    for ax, budget in zip(axes[0], budgets):
        for strategy in strategies:
            curves = [r[2] for r in results[(budget, strategy)]]
            n = min(len(c) for c in curves)
            mean = [statistics.mean(c[i] for c in curves) for i in range(n)]
            ax.plot(range(1, n + 1), mean, label=strategy)
        ax.set_title(f"budget {budget:g} {unit}")
        ax.set_xlabel("archs scored")
        ax.set_ylabel("best val accuracy so far")
        ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(png, lambda tmp: fig.savefig(tmp, format="png"))
    atomic_write_text(out, "\n".join(lines))
    raw = {
        f"{b:g}/{s}": [
            {
                "seed": i,
                "val": r[0],
                "test": r[1],
                "arch": str(r[3].arch),
                "latency": r[3].latency_ms,
                "scored": len(r[2]),
                "curve": r[2],
            }
            for i, r in enumerate(rs)
        ]
        for (b, s), rs in results.items()
    }
    raw["best_any"] = {
        f"{b:g}": max((v for a, v in val_cache.items() if table.predict(a) <= b), default=None)
        for b in budgets
    }
    atomic_write_text(out.with_suffix(".json"), json.dumps(raw, indent=1))
    print(out.read_text())


if __name__ == "__main__":
    main()
