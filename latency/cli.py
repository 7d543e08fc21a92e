"""`supernet latency build|validate|show`: make a lookup table on this machine, prove it, query it."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

from supernet.checks import MAX_SEED, int_arg
from supernet.cli_common import ARCH_HELP, Given, add_count, add_quiet, given_among, it_or_them

from .timing import STATS, Timing

TARGET_HELP = (
    "ort-cpu, ort-cpu-int8 (onnxruntime fp32 / QDQ int8, --provider), torch-cpu, torch-cuda (measured); "
    "fpga-int8 (analytic); macs, params (exact counts)"
)
CPU = "CPUExecutionProvider"
MANY = 1_000_000  # a count option's upper bound: beyond it a typo, not a plan (hours of timing)


def _build_io(args: argparse.Namespace):
    """(space, in_chans, num_classes) from --space/--in-chans/--num-classes, or from a training run."""
    from supernet import SearchSpace

    from .errors import OptionError

    if args.checkpoint is None:
        if args.space is None:
            raise OptionError(
                "give --space (a preset or file) or --checkpoint RUN (a training run directory)"
            )
        return SearchSpace.resolve(args.space), args.in_chans or 3, args.num_classes or 10
    from supernet.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(args.checkpoint)
    space, model = ckpt.space, ckpt.model
    if args.space is not None and SearchSpace.resolve(args.space).fingerprint() != space.fingerprint():
        raise OptionError(
            f"--space {args.space} is not the space of --checkpoint {args.checkpoint} ({space.name})"
        )
    for name, given, actual in (
        ("in-chans", args.in_chans, model.in_chans),
        ("num-classes", args.num_classes, model.num_classes),
    ):
        if given is not None and given != actual:
            raise OptionError(
                f"--{name} {given} contradicts --checkpoint {args.checkpoint} ({actual}); drop it"
            )
    return space, model.in_chans, model.num_classes


# Options of `latency build` that only a timed target uses, and the one only the FPGA model uses.
_TIMING_OPTIONS = ("--threads", "--batch", "--warmup", "--repeats", "--stat", "--fit-samples", "--provider")
_MEASURE_OPTIONS = (
    "--samples",
    "--seed",
    "--warmup",
    "--repeats",
    "--passes",
    "--no-independent",
)  # validate
_NOT_TIMED = {"macs": "an exact count", "params": "an exact count", "fpga-int8": "an analytic model"}


def _check_build_options(args: argparse.Namespace) -> None:
    """Refuse an option the chosen target would ignore (one line, exit 2) instead of ignoring it."""
    from .errors import OptionError

    stray = given_among(args, _TIMING_OPTIONS) if args.target in _NOT_TIMED else []
    if stray:
        raise OptionError(
            f"{', '.join(stray)} only set{'s' if len(stray) == 1 else ''} how layers are timed, and --target "
            f"{args.target} is {_NOT_TIMED[args.target]} (nothing is timed); leave {it_or_them(stray)} out"
        )
    if given_among(args, {"--fpga"}) and args.target != "fpga-int8":
        raise OptionError(f"--fpga applies to --target fpga-int8 only, not {args.target}; leave it out")


def _build(args: argparse.Namespace) -> int:
    from .build import build_table, check_positive

    _check_build_options(args)
    check_positive(
        **{k: v for k, v in (("in_chans", args.in_chans), ("num_classes", args.num_classes)) if v is not None}
    )
    timing = Timing(warmup=args.warmup, repeats=args.repeats, stat=args.stat, threads=args.threads)
    check_positive(batch=args.batch)
    space, in_chans, num_classes = _build_io(args)
    table = build_table(
        space,
        args.target,
        args.out,
        in_chans=in_chans,
        num_classes=num_classes,
        timing=timing,
        batch=args.batch,
        fit_samples=args.fit_samples,
        overwrite=args.overwrite,
        progress=not args.quiet,
        fpga_preset=args.fpga,
        provider=args.provider,
    )
    _print_table(args.out, table)
    return 0


def _print_table(out, table) -> None:
    c = table.correction
    what = f"statistic {table.stat}" + (f", {table.provider}" if table.provider else "")
    print(
        f"wrote {out}: {len(table.entries)} layer entries for {table.space.name} on {table.target} ({table.unit}"
        f"{', ' + what if table.unit == 'ms' and table.target not in ('fpga-int8',) else ''}); "
        f"correction: {c.scale:.4f} * sum {c.per_layer_ms:+.5f} * layers {c.offset_ms:+.5f}"
    )


def _kit(args: argparse.Namespace) -> int:
    from .build import check_positive
    from .kit import make_kit

    check_positive(
        **{k: v for k, v in (("in_chans", args.in_chans), ("num_classes", args.num_classes)) if v is not None}
    )
    timing = Timing(warmup=args.warmup, repeats=args.repeats, stat=args.stat)
    space, in_chans, num_classes = _build_io(args)
    manifest = make_kit(
        space, args.out, in_chans=in_chans, num_classes=num_classes, precision=args.precision,
        fit_samples=args.fit_samples, holdout=args.holdout, timing=timing, overwrite=args.overwrite,
        progress=not args.quiet,
    )  # fmt: skip
    kinds = [g["kind"] for g in manifest["graphs"]]
    print(
        f"wrote kit {args.out} ({manifest['precision']}, id {manifest['kit_id'][:12]}): {kinds.count('layer')} layer "
        f"graphs, {kinds.count('fit')} fit and {kinds.count('validate')} held-out subnets. On the device: "
        f"python {Path(args.out) / 'run_kit.py'} --out timings.json; then: supernet latency import {args.out} timings.json --out lut.json"
    )
    return 0


def _import(args: argparse.Namespace) -> int:
    from .kit_import import import_table

    table = import_table(
        args.kit, args.timings, out=args.out, stat=args.stat, provider=args.provider, overwrite=args.overwrite
    )
    _print_table(args.out, table)
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .build import check_positive
    from .table import LatencyTable
    from .validate import validate_table, write_report

    stray = given_among(args, _MEASURE_OPTIONS) if args.timings else []
    if stray:
        from .errors import OptionError

        raise OptionError(
            f"{', '.join(stray)} set{'s' if len(stray) == 1 else ''} how subnets are measured here, and --timings "
            f"compares the device's own timings instead; leave {it_or_them(stray)} out"
        )
    check_positive(samples=args.samples, passes=args.passes)
    Timing(warmup=args.warmup, repeats=args.repeats)  # refuse bad counts before the table is read
    table = LatencyTable.load(args.lut)
    if args.timings:
        from .kit_import import validate_timings

        report = validate_timings(table, args.timings)
    else:
        report = validate_table(
            table, samples=args.samples, seed=args.seed, warmup=args.warmup, repeats=args.repeats,
            passes=args.passes, progress=not args.quiet, independent=not args.no_independent,
        )  # fmt: skip
    plot = Path(args.plot or Path(args.lut).with_suffix("").as_posix() + "_validation.png")
    report.plot(plot)
    if args.report:
        write_report(report, table, args.report, plot, command="supernet " + shlex.join(sys.argv[1:]))
    s = report.summary()
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        nan = float("nan")
        print(
            f"{s['samples']} subnets on {s['target']} ({s['stat']}, {report.source}): MAPE {s['mape_pct']:.2f}%, "
            f"RMSPE {s['rmspe_pct']:.2f}%, {s['within_10_pct']:.0f}% within ±10% ({s['within_5_pct']:.0f}% within ±5%), "
            f"Kendall tau {s['kendall_tau']:.3f}; load avg {s.get('load_avg_start', nan):.1f}->{s.get('load_avg_end', nan):.1f}"
        )
        if "independent_mape_pct" in s:
            print(
                f"independent timer (fresh onnxruntime session, {s['stat']}): MAPE {s['independent_mape_pct']:.2f}%, "
                f"{s['independent_within_10_pct']:.0f}% within ±10%, Kendall tau {s['independent_kendall_tau']:.3f}"
            )
        print(f"plot: {plot}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from supernet.named import resolve_arch

    from .table import LatencyTable

    table = LatencyTable.load(args.lut)
    arch = resolve_arch(args.arch, table.space)
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


def _space_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", help="search-space preset or .yaml/.json file (or give --checkpoint)")
    p.add_argument(
        "--checkpoint", help="training run directory: take space, in_chans and num_classes from it"
    )
    p.add_argument(
        "--in-chans", type=int_arg(1, 4096), help="input channels (default 3, or the checkpoint's)"
    )
    p.add_argument("--num-classes", type=int_arg(1, MANY), help="classes (default 10, or the checkpoint's)")


def _stat_option(p: argparse.ArgumentParser, what: str = "statistic of the timed runs", **kw) -> None:
    p.add_argument(
        "--stat", default="median", choices=STATS, **kw,
        help=f"{what}: median (default: typical latency), p90/p99 (tail, for serving) or min (lower bound; "
        "steadiest on a busy shared machine)",
    )  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("latency", help="build, validate and query latency lookup tables")
    lsub = p.add_subparsers(dest="latency_command", metavar="ACTION", required=True)

    b = lsub.add_parser("build", help="measure every layer of a space on a target and save a lookup table")
    _space_options(b)
    b.add_argument("--target", required=True, help=TARGET_HELP)
    b.add_argument("--out", required=True, help="table JSON to write; an unfinished one there is resumed")
    add_count(b, "--threads", (1, 1024), 1, help="intra-op threads", action=Given)
    add_count(b, "--batch", (1, 65_536), 1, help="batch size (default 1, the deployment case)", action=Given)
    add_count(b, "--warmup", (0, MANY), 10, help="untimed runs per layer", action=Given)
    add_count(
        b, "--repeats", (1, MANY), 50, help="timed runs per layer; --stat of them is kept", action=Given
    )
    _stat_option(b, action=Given)
    b.add_argument(
        "--provider", default=CPU, action=Given,
        help=f"onnxruntime execution provider for ort-* targets (default {CPU})",
    )  # fmt: skip
    add_count(
        b,
        "--fit-samples",
        (4, 100_000),
        20,
        help="subnets timed end to end to fit the correction",
        action=Given,
    )
    b.add_argument(
        "--fpga",
        default="zcu102-b4096",
        action=Given,
        help="FPGA preset or config file for --target fpga-int8 (default zcu102-b4096)",
    )
    b.add_argument(
        "--overwrite", action="store_true", help="replace --out instead of resuming it (or refusing)"
    )
    add_quiet(b)
    b.set_defaults(func=_build)

    k = lsub.add_parser("kit", help="write ONNX graphs + run_kit.py to time a space on another device")
    _space_options(k)
    k.add_argument("--out", required=True, help="kit folder to write")
    k.add_argument(
        "--precision", default="fp32", choices=["fp32", "int8"], help="graphs to time (default fp32)"
    )
    add_count(k, "--fit-samples", (4, 100_000), 20, help="whole subnets to fit the correction")
    add_count(k, "--holdout", (1, 100_000), 50, help="held-out subnets to validate it")
    add_count(k, "--warmup", (0, MANY), 10, help="runner's untimed runs per graph")
    add_count(k, "--repeats", (1, MANY), 50, help="runner's timed runs per layer")
    _stat_option(k, "runner's default statistic")
    k.add_argument("--overwrite", action="store_true", help="replace an existing kit in --out")
    add_quiet(k)
    k.set_defaults(func=_kit)

    i = lsub.add_parser(
        "import", help="make a table from a kit and the timings run_kit.py wrote on the device"
    )
    i.add_argument("kit", help="kit folder (from `supernet latency kit`)")
    i.add_argument("timings", help="timings JSON written by run_kit.py")
    i.add_argument("--out", required=True, help="table JSON to write")
    i.add_argument("--stat", choices=STATS, help="statistic to use (default: the one run_kit.py was given)")
    i.add_argument("--provider", help="refuse timings from another onnxruntime provider than this one")
    i.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    i.set_defaults(func=_import)

    v = lsub.add_parser("validate", help="measure random subnets end to end and report the table's error")
    v.add_argument("--lut", required=True, help="table JSON from `latency build` or `latency import`")
    v.add_argument(
        "--timings", help="compare with the device's own timings of the kit's held-out subnets instead"
    )
    # the measurement's own options (action=Given): refused with --timings, which measures nothing here
    add_count(v, "--samples", (1, 100_000), 50, help="subnets to measure", action=Given)
    add_count(
        v,
        "--seed",
        (0, MAX_SEED),
        0,
        help="subnet sampling seed (default 0; the fit used its own)",
        action=Given,
    )
    add_count(v, "--warmup", (0, MANY), 10, help="untimed runs per subnet", action=Given)
    add_count(v, "--repeats", (1, MANY), 100, help="timed runs per subnet and pass", action=Given)
    add_count(v, "--passes", (1, 1000), 2, help="measurements per subnet, minutes apart", action=Given)
    v.add_argument(
        "--no-independent", nargs=0, const=True, default=False,
        help="skip the independent onnxruntime timer (default: off)", action=Given,
    )  # fmt: skip
    v.add_argument("--plot", help="predicted-vs-measured PNG (default: <lut>_validation.png)")
    v.add_argument("--report", help="also write a markdown report (summary, settings, per-subnet rows)")
    v.add_argument("--json", action="store_true", help="print the full report as JSON")
    add_quiet(v)
    v.set_defaults(func=_validate)

    s = lsub.add_parser("show", help="per-layer latency breakdown of one arch")
    s.add_argument("arch", help=ARCH_HELP)
    s.add_argument("--lut", required=True, help="table JSON from `latency build`")
    s.add_argument("--json", action="store_true", help="one JSON object with the total and per-layer entries")
    s.set_defaults(func=_show)
