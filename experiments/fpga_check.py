"""Check the `fpga-int8` cost model against published Vitis AI DPU figures, and (re)fit its calibration.

    python experiments/fpga_check.py                 # errors of the shipped presets
    python experiments/fpga_check.py --fit           # + refit on ZCU102, leave-one-out, ZCU104 transfer
    python experiments/fpga_check.py --fit --out experiments/results/fpga_check.md

Every latency here is an estimate of the model; the published figures are end-to-end single-thread fps
from the Vitis AI 2.5 Model Zoo (see latency/fpga_reference.py for the source).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares
from scipy.stats import kendalltau

from latency.fpga import FpgaConfig, FpgaCostModel, fpga_presets
from latency.fpga_reference import BOARD_PRESETS, PublishedPoint, mobilenet_v2_from_space, published_points
from supernet import SearchSpace
from supernet.files import atomic_write_text

FIT_FIELDS = ("compute_efficiency", "mem_efficiency", "op_overhead_cycles", "host_overhead_ms")
# field: (lower bound, upper bound, typical scale)
BOUNDS = {
    "compute_efficiency": (0.05, 1.0, 0.1),
    "mem_efficiency": (0.05, 1.0, 0.1),
    "op_overhead_cycles": (0.0, 20000.0, 100.0),
    "host_overhead_ms": (0.0, 5.0, 0.1),
}


def predict(config: FpgaConfig, points: list[PublishedPoint]) -> np.ndarray:
    model = FpgaCostModel(config)
    return np.array([model.predict_ms(p.build()) for p in points])


def fit(config: FpgaConfig, points: list[PublishedPoint], names=FIT_FIELDS) -> FpgaConfig:
    """Least squares on log(estimate / published): relative errors weigh small and big nets alike."""
    measured = np.array([p.ms for p in points])
    lower, upper, scale = zip(*(BOUNDS[k] for k in names))
    start = [min(max(getattr(config, k), lo), hi) for k, lo, hi in zip(names, lower, upper)]

    def with_params(x) -> FpgaConfig:
        return config.replace(**{k: float(v) for k, v in zip(names, x)})

    result = least_squares(
        lambda x: np.log(predict(with_params(x), points) / measured), start, bounds=(lower, upper),
        x_scale=scale, diff_step=1e-3,
    )  # fmt: skip
    return with_params(result.x)


def errors_pct(config: FpgaConfig, points: list[PublishedPoint]) -> np.ndarray:
    return 100 * (predict(config, points) / np.array([p.ms for p in points]) - 1)


def summary(errs: np.ndarray) -> str:
    a = np.abs(errs)
    return f"mean |error| {a.mean():.1f}%, max {a.max():.1f}%, within +-10%: {int((a <= 10).sum())}/{len(a)}"


def cross_validate(config: FpgaConfig, points: list[PublishedPoint], names=FIT_FIELDS) -> dict[str, float]:
    """Leave-one-out: each point's error when the calibration is fitted on all the others."""
    return {
        p.model: float(errors_pct(fit(config, points[:i] + points[i + 1 :], names), [p])[0])
        for i, p in enumerate(points)
    }


# Variants of the model, each refitted and cross-validated like the shipped one: what each term buys.
ABLATIONS = {
    "shipped model": ({}, FIT_FIELDS),
    "no per-op overhead (host overhead only)": (
        {"op_overhead_cycles": 0.0},
        ("compute_efficiency", "mem_efficiency", "host_overhead_ms"),
    ),
    "no memory term (compute roofline only)": (
        {"bandwidth_gbps": 1e6},
        ("compute_efficiency", "op_overhead_cycles", "host_overhead_ms"),
    ),
    "depthwise at full pixel parallelism (PP)": ({"dw_pixel_parallel": 8}, FIT_FIELDS),
    "depthwise at PP/4": ({"dw_pixel_parallel": 2}, FIT_FIELDS),
}


def ablation_table(config: FpgaConfig, points: list[PublishedPoint]) -> list[str]:
    rows = [
        "| variant | fitted | in-sample mean / max abs error | leave-one-out mean / max abs error |",
        "|---|---|---:|---:|",
    ]
    for label, (changes, names) in ABLATIONS.items():
        base = config.replace(**changes)
        fitted = fit(base, points, names)
        ins = np.abs(errors_pct(fitted, points))
        loo = np.abs(list(cross_validate(base, points, names).values()))
        params = ", ".join(f"{k}={round(getattr(fitted, k), 4):.3g}" for k in names)
        rows.append(
            f"| {label} | {params} | {ins.mean():.1f}% / {ins.max():.1f}% | {loo.mean():.1f}% / {loo.max():.1f}% |"
        )
    return rows


def points_table(
    configs: dict[str, FpgaConfig], points: list[PublishedPoint], oos: dict | None = None
) -> list[str]:
    rows = [
        "| model | board | GOPs | published fps | published ms | estimated ms | error | array use (est.) "
        "| memory-bound (est.) | op overhead (est.) |" + (" leave-one-out error |" if oos else ""),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if oos else ""),
    ]
    for p in points:
        model = FpgaCostModel(configs[p.board])
        costs = model.breakdown(p.build())
        cfg = configs[p.board]
        est = model.predict_ms(p.build())
        macs = sum(c.macs for c in costs)
        cycles = est * cfg.clock_mhz * 1e3
        ops = [o for c in costs for o in c.ops]
        memory = sum(o.cycles for o in ops if o.bound == "memory") / cycles
        overhead = len(ops) * cfg.op_overhead_cycles / cycles
        row = (
            f"| {p.model} | {p.board} | {2 * macs / 1e9:.3f} | {p.fps:.2f} | {p.ms:.2f} | {est:.2f} | "
            f"{100 * (est / p.ms - 1):+.1f}% | {100 * macs / (cycles * cfg.macs_per_cycle):.0f}% | "
            f"{100 * memory:.0f}% | {100 * overhead:.0f}% |"
        )
        if oos:
            row += f" {oos[p.model]:+.1f}% |" if p.board == "ZCU102" else " - |"
        rows.append(row)
    return rows


def bits_table(config: FpgaConfig) -> list[str]:
    layers = mobilenet_v2_from_space()
    rows = [
        "| weights x acts | array (PPxICPxOCP) | MACs/DSP | DSPs/core | LUTs per multiplier | est. ms, same DSPs | "
        "est. ms, same array |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for wb, ab in [(8, 8), (4, 8), (4, 4), (2, 2)]:
        same_dsp = config.with_bits(wb, ab)
        same_array = config.replace(weight_bits=wb, act_bits=ab)
        rep = FpgaCostModel(same_dsp).resource_report()
        rows.append(
            f"| {wb} x {ab} | {same_dsp.pixel_parallel}x{same_dsp.in_parallel}x{same_dsp.out_parallel} | "
            f"{rep.macs_per_dsp} | {rep.dsp // rep.cores} | {rep.lut_per_mult} | "
            f"{FpgaCostModel(same_dsp).predict_ms(layers):.2f} | {FpgaCostModel(same_array).predict_ms(layers):.2f} |"
        )
    return rows


def space_table() -> list[str]:
    space = SearchSpace.preset("mbv2-imagenet")
    archs = {"smallest": space.smallest(), "largest": space.largest()}
    rows = ["| preset | " + " | ".join(f"{k} subnet est. ms" for k in archs) + " |", "|---|---:|---:|"]
    for name in fpga_presets():
        model = FpgaCostModel(name)
        rows.append(
            f"| {name} | "
            + " | ".join(f"{model.predict_arch_ms(space, a, 3, 1000):.2f}" for a in archs.values())
            + " |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fit", action="store_true", help="refit the calibration on ZCU102 and cross-validate")
    ap.add_argument("--out", type=Path, help="write the markdown report here")
    args = ap.parse_args(argv)

    zcu102 = published_points("ZCU102")
    configs = {board: FpgaConfig.preset(name) for board, name in BOARD_PRESETS.items()}
    lines = [
        "# FPGA cost model (`fpga-int8`) against published Vitis AI DPU figures",
        "",
        f"Command: `python {' '.join(['experiments/fpga_check.py', *(argv if argv is not None else sys.argv[1:])])}`",
        "",
        "All `estimated` figures are estimates of the analytic model, not measurements. Published figures: "
        "Vitis AI 2.5 Model Zoo, end-to-end single-thread fps (ZCU102: 3x B4096 @ 281 MHz; ZCU104: "
        "2x B4096 @ 300 MHz); one thread runs one image at a time, so published ms = 1000 / fps.",
        "",
    ]
    oos = None
    if args.fit:
        fitted = fit(configs["ZCU102"], zcu102)
        oos = cross_validate(configs["ZCU102"], zcu102)
        params = ", ".join(f"{k}={round(getattr(fitted, k), 4):.4g}" for k in FIT_FIELDS)
        shipped = ", ".join(f"{k}={getattr(configs['ZCU102'], k):.4g}" for k in FIT_FIELDS)
        lines += [
            "## Fit on the eight ZCU102 points",
            "",
            f"Fitted: {params}.",
            f"Shipped in the presets: {shipped}.",
            "",
            f"- ZCU102 in-sample: {summary(errors_pct(fitted, zcu102))}",
            f"- ZCU102 leave-one-out (each model predicted by a fit on the other seven): "
            f"{summary(np.array(list(oos.values())))}",
            "",
            "Ablations, each refitted on ZCU102 and cross-validated the same way:",
            "",
            *ablation_table(configs["ZCU102"], zcu102),
            "",
        ]
    lines += ["## Shipped presets", ""]
    for board, cfg in configs.items():
        pts = published_points(board)
        errs = errors_pct(cfg, pts)
        tau = kendalltau(predict(cfg, pts), [p.ms for p in pts]).statistic
        note = (
            "calibration set"
            if board == "ZCU102"
            else "not used in the fit: other clock and device, same DPU"
        )
        lines.append(f"- {board} ({note}): {summary(errs)}, Kendall tau {tau:.2f}")
    lines += ["", *points_table(configs, published_points(), oos), ""]
    lines += [
        "## Bit-width (MobileNetV2-1.0-224 as an `mbv2-imagenet` subnet, zcu102-b4096, one core)",
        "",
        "`same DSPs`: `FpgaConfig.with_bits` widens ICP by the DSP packing gain; `same array`: only memory "
        "traffic shrinks. Extrapolations: no published sub-8-bit DPU figure was checked.",
        "",
        *bits_table(configs["ZCU102"]),
        "",
        "## Search-space extremes (`mbv2-imagenet`, 1000 classes)",
        "",
        *space_table(),
        "",
        "## Resource reports (array multipliers and buffers only)",
        "",
    ]
    for name in fpga_presets():
        lines += ["```", str(FpgaCostModel(name).resource_report()), "```"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
