"""Proof of a table's accuracy: predict and measure random unseen subnets end to end, report the errors.

Reported (as nn-Meter and the field do): mean absolute % error, RMSPE, share within +-5% and +-10%,
Kendall's tau (search only needs the ranking right) and the machine load while measuring, because
timings on a shared machine are only as good as its quiet.
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import time
from dataclasses import KW_ONLY, asdict, dataclass, field
from pathlib import Path

from supernet.files import atomic_write, atomic_write_text

from .errors import LatencyTableError
from .independent import independent_ms
from .measure import (
    MEASURED_TARGETS,
    ORT_TARGETS,
    measure_arch_ms,
    measure_onnx_ms,
    one_torch_thread,
    subnet_graph,
)
from .table import LatencyTable
from .timing import Timing

VALIDATE_SEED = 0


def _cpu_busy() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat, or None off Linux."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


@dataclass
class ValidationReport:
    target: str
    archs: list[str]
    predicted_ms: list[float]
    measured_ms: list[float]
    _: KW_ONLY
    raw_sum_ms: list[float] = field(default_factory=list)
    passes_ms: list[list[float]] = field(default_factory=list)
    seed: int = VALIDATE_SEED
    load: dict = field(default_factory=dict)
    stat: str = "median"
    independent_ms: list[float] = field(default_factory=list)
    source: str = "measured here"

    @property
    def errors_pct(self) -> list[float]:
        return [100.0 * (p - m) / m for p, m in zip(self.predicted_ms, self.measured_ms)]

    def _raw_summary(self) -> dict:
        """The plain sum of entries, uncorrected: what the correction buys."""
        if not self.raw_sum_ms:
            return {}
        errs = [100.0 * (r - m) / m for r, m in zip(self.raw_sum_ms, self.measured_ms)]
        return {
            "raw_sum_mape_pct": sum(abs(e) for e in errs) / len(errs),
            "raw_sum_within_10_pct": 100.0 * sum(abs(e) <= 10 for e in errs) / len(errs),
        }

    def _retest_summary(self) -> dict:
        """Pass 2 against pass 1 of the same subnets: the machine's own repeatability."""
        if len(self.passes_ms) < 2:
            return {}
        errs = [100.0 * (b - a) / a for a, b in zip(self.passes_ms[0], self.passes_ms[1])]
        return {
            "retest_mape_pct": sum(abs(e) for e in errs) / len(errs),
            "retest_within_10_pct": 100.0 * sum(abs(e) <= 10 for e in errs) / len(errs),
        }

    def _independent_summary(self) -> dict:
        """The prediction against an independent timer (fresh onnxruntime session, own warm-up)."""
        if not self.independent_ms:
            return {}
        from scipy.stats import kendalltau

        ind = self.independent_ms
        errs = [100.0 * (p - m) / m for p, m in zip(self.predicted_ms, ind)]
        own = [100.0 * (a - b) / b for a, b in zip(self.measured_ms, ind)]
        return {
            "independent_mape_pct": sum(abs(e) for e in errs) / len(errs),
            "independent_within_10_pct": 100.0 * sum(abs(e) <= 10 for e in errs) / len(errs),
            "independent_kendall_tau": float(kendalltau(self.predicted_ms, ind).statistic),
            "own_vs_independent_mape_pct": sum(abs(e) for e in own) / len(own),
        }

    def summary(self) -> dict:
        from scipy.stats import kendalltau

        errs = self.errors_pct
        n = len(errs)
        tau = kendalltau(self.predicted_ms, self.measured_ms).statistic if n > 1 else float("nan")
        sq = [(p - m) ** 2 for p, m in zip(self.predicted_ms, self.measured_ms)]
        return {
            "target": self.target,
            "stat": self.stat,
            "samples": n,
            "mape_pct": sum(abs(e) for e in errs) / n,
            "rmspe_pct": math.sqrt(sum(e * e for e in errs) / n),
            "rmse_ms": math.sqrt(sum(sq) / n),
            "within_5_pct": 100.0 * sum(abs(e) <= 5 for e in errs) / n,
            "within_10_pct": 100.0 * sum(abs(e) <= 10 for e in errs) / n,
            "max_abs_error_pct": max(abs(e) for e in errs),
            "kendall_tau": float(tau),
            "measured_range_ms": [min(self.measured_ms), max(self.measured_ms)],
            **self._raw_summary(),
            **self._retest_summary(),
            **self._independent_summary(),
            **self.load,
        }

    def to_dict(self) -> dict:
        return {"summary": self.summary(), **asdict(self)}

    def plot(self, path: str | Path, title: str = "") -> None:
        """Predicted-vs-measured scatter with the identity and +-10% lines."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        s = self.summary()
        fig, ax = plt.subplots(figsize=(5, 5))
        lo, hi = (
            0.9 * min(self.measured_ms + self.predicted_ms),
            1.1 * max(self.measured_ms + self.predicted_ms),
        )
        ax.plot([lo, hi], [lo, hi], "k-", lw=1, label="predicted = measured")
        for f in (0.9, 1.1):
            ax.plot([lo, hi], [f * lo, f * hi], "k--", lw=0.7)
        ax.scatter(self.measured_ms, self.predicted_ms, s=14, label="subnets")
        ax.set_xlabel(f"measured end-to-end latency, {self.stat} (ms)")
        ax.set_ylabel("predicted latency (ms)")
        ax.set_title(
            title
            or f"{self.target} ({self.stat}): {s['within_10_pct']:.0f}% within ±10%, MAPE {s['mape_pct']:.1f}%, "
            f"τ={s['kendall_tau']:.2f}",
            fontsize=9,
        )
        ax.legend(fontsize=8)
        fig.tight_layout()
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
        plt.close(fig)


def validation_archs(space, samples: int, seed: int = VALIDATE_SEED) -> list:
    """The unseen subnets `validate` (and the kit's held-out graphs) measure: `samples` draws with `seed`."""
    rng = random.Random(seed)
    return [space.sample(rng) for _ in range(samples)]


def validate_table(
    table: LatencyTable,
    *,
    samples: int = 50,
    seed: int = VALIDATE_SEED,
    warmup: int = 10,
    repeats: int = 100,
    passes: int = 2,
    progress: bool = True,
    independent: bool = True,
) -> ValidationReport:
    """Measure `samples` random subnets (drawn with `seed`, not the fit's seed) end to end on the table's
    own target, provider, threads, batch and statistic, and pair each with the table's prediction. Each
    measurement is `warmup` untimed and `repeats` timed runs (the table's `Timing`, with these counts).

    Every subnet is measured once per pass, the passes minutes apart; a subnet's measurement is the
    min of its passes for the `min` statistic, else their median. Two or more passes also give the
    test-retest agreement of the machine: the error no predictor can beat while the load is what it is.
    On onnxruntime targets each subnet is timed as the very graph `extract` ships, and with
    `independent` once more by `latency.independent` (a fresh session, its own warm-up and clock).
    """
    import contextlib
    import tempfile

    from tqdm import tqdm

    if table.target not in MEASURED_TARGETS:
        raise LatencyTableError(
            f"target {table.target} is not measured, so there is nothing to validate against"
        )
    timing = Timing(warmup=warmup, repeats=repeats, stat=table.stat, threads=table.threads)
    archs = validation_archs(table.space, samples, seed)
    predicted = [table.predict_ms(a) for a in archs]
    raw = [sum(v for _, v in table.breakdown(a)) for a in archs]
    load_start, busy_start, t0 = os.getloadavg()[0], _cpu_busy(), time.monotonic()
    onnx = table.target in ORT_TARGETS
    bar = dict(disable=None if progress else True, unit="subnet")  # None: bars only on a terminal
    threads = one_torch_thread() if onnx else contextlib.nullcontext()
    with tempfile.TemporaryDirectory() as tmp, threads:
        if onnx:
            precision = ORT_TARGETS[table.target]
            files = [
                subnet_graph(
                    table.space, a, in_chans=table.in_chans, num_classes=table.num_classes,
                    path=Path(tmp) / f"{i}.onnx", precision=precision,
                )
                for i, a in enumerate(tqdm(archs, desc="exporting subnets", **bar))
            ]  # fmt: skip
        runs = [(p, i) for p in range(passes) for i in range(samples)]
        times = [
            measure_onnx_ms(files[i], timing, batch=table.batch, provider=table.provider)
            if onnx
            else measure_arch_ms(
                table.space, archs[i], table.target, in_chans=table.in_chans, num_classes=table.num_classes,
                timing=timing, batch=table.batch,
            )
            for _, i in tqdm(runs, desc=f"validating on {table.target} ({table.stat})", **bar)
        ]  # fmt: skip
        ind = []
        if onnx and independent:
            args = dict(threads=table.threads, batch=table.batch, repeats=repeats, provider=table.provider)
            ind = [
                independent_ms(f, table.stat, **args) for f in tqdm(files, desc="independent timer", **bar)
            ]
    per_pass = [times[p * samples : (p + 1) * samples] for p in range(passes)]
    combine = min if table.stat == "min" else statistics.median
    measured = [combine(ts) for ts in zip(*per_pass)]
    busy_end = _cpu_busy()
    load = {
        "load_avg_start": load_start,
        "load_avg_end": os.getloadavg()[0],
        "seconds": time.monotonic() - t0,
    }
    if busy_start and busy_end:
        load["cpu_busy_pct"] = 100.0 * (busy_end[0] - busy_start[0]) / max(busy_end[1] - busy_start[1], 1)
    return ValidationReport(
        table.target, [str(a) for a in archs], predicted, measured, raw_sum_ms=raw, passes_ms=per_pass,
        seed=seed, load=load, stat=table.stat, independent_ms=ind,
    )  # fmt: skip


def write_report(
    report: ValidationReport, table: LatencyTable, path: str | Path, plot: Path, command: str
) -> None:
    """Markdown with the command, machine, settings, summary and every subnet: a results table one can redo."""
    s, nan = report.summary(), float("nan")
    c = table.correction
    lines = [
        f"# Latency table validation: {table.space.name} on {table.target}",
        "",
        f"Made by `{command}` on {table.metadata.get('device', '?')} ({table.metadata.get('cpu_count', '?')} CPUs), "
        f"table built {table.metadata.get('date', '?')}, threads {table.threads}, batch {table.batch}, statistic **{table.stat}**, "
        f"provider {table.provider or '-'} ({len(report.passes_ms)} passes per subnet; measurements {report.source}).",
        f"Versions: {json.dumps(table.metadata.get('versions', {}))}.",
        "",
        f"Correction fitted on {len(table.fit_points)} other subnets: predicted = {c.scale:.4f} * sum of entries "
        f"{c.per_layer_ms:+.5f} ms * layers {c.offset_ms:+.5f} ms.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| subnets (seed {report.seed}) | {s['samples']} |",
        f"| mean abs % error | {s['mape_pct']:.2f} |",
        f"| RMSPE % | {s['rmspe_pct']:.2f} |",
        f"| RMSE ms | {s['rmse_ms']:.4f} |",
        f"| within ±5% | {s['within_5_pct']:.0f}% |",
        f"| within ±10% | {s['within_10_pct']:.0f}% |",
        f"| max abs % error | {s['max_abs_error_pct']:.1f} |",
        f"| Kendall tau | {s['kendall_tau']:.3f} |",
        f"| test-retest (pass 2 vs pass 1): mean abs % difference | {s.get('retest_mape_pct', float('nan')):.2f} |",
        f"| test-retest: within ±10% | {s.get('retest_within_10_pct', float('nan')):.0f}% |",
        f"| independent timer (fresh onnxruntime session, {report.stat}): mean abs % error | {s.get('independent_mape_pct', float('nan')):.2f} |",
        f"| independent timer: within ±10% | {s.get('independent_within_10_pct', float('nan')):.0f}% |",
        f"| independent timer: Kendall tau | {s.get('independent_kendall_tau', float('nan')):.3f} |",
        f"| own timing vs independent timer: mean abs % difference | {s.get('own_vs_independent_mape_pct', float('nan')):.2f} |",
        f"| uncorrected sum of entries: mean abs % error | {s.get('raw_sum_mape_pct', float('nan')):.2f} |",
        f"| uncorrected sum of entries: within ±10% | {s.get('raw_sum_within_10_pct', float('nan')):.0f}% |",
        f"| measured range ms | {s['measured_range_ms'][0]:.3f} - {s['measured_range_ms'][1]:.3f} |",
        f"| load avg (1 min) start -> end | {s.get('load_avg_start', nan):.2f} -> {s.get('load_avg_end', nan):.2f} |",
        f"| all-CPU busy % while measuring | {s.get('cpu_busy_pct', float('nan')):.0f} |",
        "",
        f"![predicted vs measured]({Path(plot).name})",
        "",
        f"| arch | predicted ms | measured ms ({report.stat}) | error % | independent timer ms |",
        "|---|---|---|---|---|",
        *(
            f"| `{a}` | {p:.4f} | {m:.4f} | {e:+.1f} | {f'{i:.4f}' if i is not None else '-'} |"
            for a, p, m, e, i in zip(
                report.archs,
                report.predicted_ms,
                report.measured_ms,
                report.errors_pct,
                report.independent_ms or [None] * len(report.archs),
            )
        ),
    ]
    atomic_write_text(Path(path), "\n".join(lines) + "\n")
