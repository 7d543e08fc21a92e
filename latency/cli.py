"""`supernet latency build|validate|show`: make a lookup table on this machine, prove it, query it."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

TARGET_HELP = "ort-cpu, torch-cpu, torch-cuda (measured); fpga-int8 (analytic); macs, params (exact counts)"


def _build(args: argparse.Namespace) -> int:
    from supernet import SearchSpace

    from .build import build_table

    space = SearchSpace.resolve(args.space)
    table = build_table(
        space,
        args.target,
        args.out,
        args.in_chans,
        args.num_classes,
        args.threads,
        args.batch,
        args.warmup,
        args.repeats,
        args.fit_samples,
        args.overwrite,
        progress=not args.quiet,
        fpga_preset=args.fpga,
        stat=args.stat,
    )
    c = table.correction
    print(
        f"wrote {args.out}: {len(table.entries)} layer entries for {space.name} on {table.target} ({table.unit}); "
        f"correction: {c.scale:.4f} * sum {c.per_layer_ms:+.5f} * layers {c.offset_ms:+.5f}"
    )
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .table import LatencyTable
    from .validate import validate_table, write_report

    table = LatencyTable.load(args.lut)
    report = validate_table(
        table, args.samples, args.seed, args.warmup, args.repeats, progress=not args.quiet
    )
    plot = Path(args.plot or Path(args.lut).with_suffix("").as_posix() + "_validation.png")
    report.plot(plot)
    if args.report:
        write_report(report, table, args.report, plot, command="supernet " + " ".join(sys.argv[1:]))
    s = report.summary()
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(
            f"{s['samples']} subnets on {s['target']}: MAPE {s['mape_pct']:.2f}%, RMSPE {s['rmspe_pct']:.2f}%, "
            f"{s['within_10_pct']:.0f}% within ±10% ({s['within_5_pct']:.0f}% within ±5%), "
            f"Kendall tau {s['kendall_tau']:.3f}; load avg {s['load_avg_start']:.1f}->{s['load_avg_end']:.1f}"
        )
        print(f"plot: {plot}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from supernet import ArchConfig

    from .table import LatencyTable

    table = LatencyTable.load(args.lut)
    arch = ArchConfig.load(args.arch)
    rows = table.breakdown(arch)
    total = table.predict(arch)
    if args.json:
        layers = [{**asdict(spec), "key": spec.key, "value": value} for spec, value in rows]
        result = {"arch": str(arch), "target": table.target, "unit": table.unit, "total": total}
        if table.unit == "ms":
            result["total_ms"] = total
        print(json.dumps({**result, "sum_of_entries": sum(v for _, v in rows), "layers": layers}))
        return 0
    print(f"{arch} on {table.target} ({table.metadata.get('device', 'analytic')}):")
    for spec, value in rows:
        print(f"  {spec.key:<44} {value:10.4f} {table.unit}")
    print(f"  {'sum of entries':<44} {sum(v for _, v in rows):10.4f} {table.unit}")
    print(f"  {'predicted end to end (corrected)':<44} {total:10.4f} {table.unit}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("latency", help="build, validate and query latency lookup tables")
    lsub = p.add_subparsers(dest="latency_command", metavar="ACTION", required=True)

    b = lsub.add_parser("build", help="measure every layer of a space on a target and save a lookup table")
    b.add_argument("--space", required=True, help="search-space preset or .yaml/.json file")
    b.add_argument("--target", required=True, help=TARGET_HELP)
    b.add_argument("--out", required=True, help="table JSON to write; an unfinished one there is resumed")
    b.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    b.add_argument("--batch", type=int, default=1, help="batch size (default 1, the deployment case)")
    b.add_argument("--in-chans", type=int, default=3)
    b.add_argument("--num-classes", type=int, default=10)
    b.add_argument("--warmup", type=int, default=10, help="untimed runs per layer")
    b.add_argument("--repeats", type=int, default=50, help="timed runs per layer; the median is kept")
    b.add_argument(
        "--stat", default="min", choices=["median", "min"],
        help="statistic of the timed runs: min (default: steadiest when other work shares the CPU) or median",
    )  # fmt: skip
    b.add_argument(
        "--fit-samples", type=int, default=20, help="subnets measured end to end to fit the correction"
    )
    b.add_argument(
        "--fpga",
        default="zcu102-b4096",
        help="FPGA preset or config file for --target fpga-int8 (default zcu102-b4096)",
    )
    b.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming --out")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_build)

    v = lsub.add_parser("validate", help="measure random subnets end to end and report the table's error")
    v.add_argument("--lut", required=True, help="table JSON from `latency build`")
    v.add_argument("--samples", type=int, default=50)
    v.add_argument("--seed", type=int, default=0, help="subnet sampling seed (the fit used its own)")
    v.add_argument("--warmup", type=int, default=10)
    v.add_argument("--repeats", type=int, default=100)
    v.add_argument("--passes", type=int, default=2, help="measurements per subnet, minutes apart (default 2)")
    v.add_argument("--plot", help="predicted-vs-measured PNG (default: <lut>_validation.png)")
    v.add_argument("--report", help="also write a markdown report (summary, settings, per-subnet rows)")
    v.add_argument("--json", action="store_true", help="print the full report as JSON")
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    v.set_defaults(func=_validate)

    s = lsub.add_parser("show", help="per-layer latency breakdown of one arch")
    s.add_argument("arch", help="arch JSON file or canonical arch string")
    s.add_argument("--lut", required=True, help="table JSON from `latency build`")
    s.add_argument("--json", action="store_true", help="one JSON object with the total and per-layer entries")
    s.set_defaults(func=_show)
