"""`supernet extract` (search under latency budgets, then export) and `supernet export` (a given arch)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from latency.onnx import check_provider_name
from latency.table import TARGETS
from supernet.checks import MAX_SEED, float_arg, int_arg
from supernet.cli_common import (
    ARCH_HELP,
    CHECKPOINT_HELP,
    Given,
    add_json,
    add_quiet,
    add_threads,
    given_among,
    json_mode,
    print_json,
    set_threads,
)
from supernet.errors import OutputError
from supernet.files import atomic_write_text
from supernet.outdir import check_out_dir, owned_folder

from .budget import budget_request, check_unit
from .errors import ExtractError

DEFAULT_EVALS = 30
SEARCH_CALIB_IMAGES = 500


def _check_out(out: Path, args: argparse.Namespace, overwrite: bool, resumable: bool = False) -> None:
    """A folder that holds a complete export or search needs --overwrite (or, for extract, --resume);
    one holding a killed extract's journal continues it; the training run itself is refused."""
    from .journal import JOURNAL

    run = Path(args.checkpoint)
    if out.resolve() == (run.parent if run.suffix == ".json" else run).resolve():
        raise OutputError(f"--out {out} is the training run of --checkpoint; export into another folder")
    check_out_dir(out)
    if overwrite or not out.is_dir() or (resumable and (out / JOURNAL).is_file()):
        return
    done = [p for p in ("card.json", "search.json") if (out / p).is_file()]
    done += [str(p.relative_to(out)) for p in sorted(out.glob("budget-*/card.json"))]
    if done:
        extra = " or --resume to continue its search" if resumable else ""
        raise OutputError(
            f"--out {out} already holds an export ({', '.join(done[:3])}); pass --overwrite to replace it{extra}, "
            "or choose another --out"
        )


def _remove_stale(out: Path, folders: set[Path]) -> None:
    """After a successful extract: drop budget folders and top-level export files of an earlier one."""
    from .files import EXPORT_FILES

    for p in out.glob("budget-*"):
        if p.is_dir() and p not in folders:
            shutil.rmtree(p)
    if out not in folders:
        for name in EXPORT_FILES:
            (out / name).unlink(missing_ok=True)


def _extract(args: argparse.Namespace) -> int:
    with json_mode(args.json):
        summary = _start_extract(args)
    if args.json:
        print_json(summary)
    return 0


def _start_extract(args: argparse.Namespace) -> dict:
    from .pipeline import open_checkpoint, open_table
    from .search import STRATEGIES, check_budgets

    (budgets, asked_unit, flag), out = budget_request(args), Path(args.out)
    if args.strategy not in STRATEGIES:
        raise ExtractError(f"unknown --strategy {args.strategy!r}; allowed: {', '.join(STRATEGIES)}")
    if args.evals < len(budgets):
        raise ExtractError(
            f"--evals {args.evals} is fewer than the {len(budgets)} budgets; give at least one per budget"
        )
    check_provider_name(args.provider)
    _check_out(out, args, args.overwrite or args.resume, resumable=True)
    set_threads(args.threads)
    ckpt = open_checkpoint(args.checkpoint)
    table = open_table(
        args.lut, ckpt.model, target=args.target, provider=args.provider, int8=args.int8,
        provider_given=bool(given_among(args, {"--provider"})),
    )  # fmt: skip
    check_unit(asked_unit, flag, table.unit)
    check_budgets(ckpt.space, table.predict, budgets, table.unit)
    _place(ckpt.model, args)
    with owned_folder(out):
        return _run_extract(args, out, budgets=budgets, ckpt=ckpt, table=table)


def _run_extract(args, out: Path, *, budgets: list[float], ckpt, table) -> dict:
    from .evaluator import ArchEvaluator
    from .export import export_arch
    from .journal import JOURNAL, SearchJournal
    from .pipeline import checkpoint_eval_data, latency_spec, score_fn, source_info
    from .report import budget_table, load_scores, plot_pareto, save_search
    from .search import run_search

    calib, search_calib = args.calib_images, args.search_calib_images
    data = checkpoint_eval_data(
        ckpt, num_calib=calib, num_search_calib=search_calib, workers=args.loader_workers
    )
    latency = latency_spec(table, args.target, args.lut)
    same_scores = {
        "checkpoint_sha256": ckpt.sha256,
        "search_calib_images": len(data.search_calib),
        "val_images": len(data.val),
    }
    journal_path = out / JOURNAL
    previous = (
        load_scores(out / "search.json", **same_scores) if args.resume and not journal_path.is_file() else []
    )
    journal = SearchJournal(journal_path, same_scores)
    if journal.replayed:
        print(f"resuming a killed search: {journal.replayed} scores from {journal_path}")
    evaluator = ArchEvaluator(
        journal.wrap(score_fn(ckpt.model, data)), table.predict, args.evals, progress=not args.quiet
    )
    evaluator.preload(previous)
    try:
        best = run_search(ckpt.space, evaluator, budgets_ms=budgets, strategy=args.strategy, seed=args.seed)
    finally:
        evaluator.close()
    search_meta = {
        "strategy": args.strategy,
        "seed": args.seed,
        "budgets": budgets,
        "unit": table.unit,
        "target": table.target,
        "table": latency.table,
        **same_scores,
    }
    measured, folders, shipped = {}, set(), []
    for budget, ev in best.items():
        folder = out if len(budgets) == 1 else out / f"budget-{budget:g}{table.unit}"
        folders.add(folder)
        card = export_arch(
            ckpt.model,
            ev.arch,
            out_dir=folder,
            data=data,
            latency=latency,
            source=source_info(ckpt),
            int8=args.int8,
            dynamo=args.dynamo,
            atol=args.atol,
            extra={
                "search": {
                    **search_meta,
                    "budget": budget,
                    "val_score": ev.score,
                    "num_evals": evaluator.num_evals,
                }
            },
        )
        measured[budget] = card["latency"]["measured_ms"]
        shipped.append(_summary(folder, card, budget))
        _print_card(folder, card, budget, table.unit)
        if measured[budget] is not None and table.unit == "ms" and measured[budget] > budget:
            print(
                f"  warning: measured {measured[budget]:.4g} ms ({table.stat}) is over the {budget:g} ms budget (predicted "
                f"{ev.latency_ms:.4g} ms); check the table with `supernet latency validate` or lower the budget"
            )
    _remove_stale(out, folders)
    atomic_write_text(out / "pareto.md", budget_table(best, table.unit, measured, table.stat))
    plot_pareto(
        evaluator,
        best,
        path=out / "pareto.png",
        unit=table.unit,
        title=f"{ckpt.space.name} on {table.target}",
    )
    save_search(out / "search.json", evaluator, best, **search_meta)  # last: marks a complete extract
    journal.remove()
    print(
        f"search: {evaluator.num_evals} archs scored ({args.strategy}); log {out / 'search.json'}, "
        f"plot {out / 'pareto.png'}"
    )
    return {
        "command": "extract",
        "out": str(out),
        "unit": table.unit,
        "num_evals": evaluator.num_evals,
        "search": str(out / "search.json"),
        "models": shipped,
    }


def _place(model, args: argparse.Namespace) -> None:
    from .pipeline import place_model

    where = place_model(model, args.device)
    if not args.quiet and where.type != "cpu":
        print(f"BN recalibration and scoring on {where} (--device {args.device}); ONNX checks on the CPU")


def _summary(folder: Path, card: dict, budget: float | None) -> dict:
    """One shipped model in `--json` output."""
    lat = card["latency"]
    return {
        "folder": str(folder),
        "onnx": str(folder / "model.onnx"),
        "arch": card["arch_string"],
        "budget": budget,
        "unit": lat["unit"],
        "predicted": lat["predicted"],
        "measured_ms": lat["measured_ms"],
        "val_acc": card["accuracy"]["val"],
        "test_acc": card["accuracy"].get("test"),
        "int8": bool(card["int8"]),
    }


def _export(args: argparse.Namespace) -> int:
    with json_mode(args.json):
        summary = _run_export(args)
    if args.json:
        print_json(summary)
    return 0


def _run_export(args: argparse.Namespace) -> dict:
    from supernet.named import resolve_arch

    from .export import export_arch
    from .pipeline import checkpoint_eval_data, latency_spec, open_checkpoint, open_table, source_info

    out = Path(args.out)
    check_provider_name(args.provider)
    _check_out(out, args, args.overwrite)
    set_threads(args.threads)
    ckpt = open_checkpoint(args.checkpoint)
    arch = resolve_arch(args.arch, ckpt.space)
    table = None
    if args.lut:
        table = open_table(
            args.lut, ckpt.model, target=args.target, provider=args.provider, int8=args.int8,
            provider_given=bool(given_among(args, {"--provider"})),
        )  # fmt: skip
    elif given_among(args, {"--provider"}):
        raise ExtractError(
            "--provider names the onnxruntime provider of a latency table: give --lut, or leave it out"
        )
    _place(ckpt.model, args)
    with owned_folder(out):
        data = checkpoint_eval_data(ckpt, num_calib=args.calib_images, workers=args.loader_workers)
        card = export_arch(
            ckpt.model,
            arch,
            out_dir=out,
            data=data,
            latency=latency_spec(table, args.target, args.lut),
            source=source_info(ckpt),
            int8=args.int8,
            dynamo=args.dynamo,
            atol=args.atol,
        )
    _print_card(out, card, None, table.unit if table else "ms")
    return {"command": "export", "out": str(out), **_summary(out, card, None)}


def _print_card(folder: Path, card: dict, budget: float | None, unit: str) -> None:
    lat, acc = card["latency"], card["accuracy"]
    pred = "-" if lat["predicted"] is None else f"{lat['predicted']:.4g} {lat['unit']}"
    stat = f" ({lat['stat']})" if lat.get("stat") else ""
    meas = "-" if lat["measured_ms"] is None else f"{lat['measured_ms']:.4g} ms{stat}"
    head = f"budget {budget:g} {unit}: " if budget is not None else ""
    print(f"{head}{card['arch_string']}")
    print(
        f"  fp32 val {acc['val']:.4f} test {acc.get('test', float('nan')):.4f}; latency predicted {pred}, "
        f"measured {meas} on {lat['target']}; parity {card['verification']['parity_max_abs_diff']:.2g}"
    )
    if card["int8"]:
        i8 = card["int8"]
        m8 = "-" if i8["measured_ms"] is None else f"{i8['measured_ms']:.4g} ms{stat}"
        print(
            f"  int8 val {i8['accuracy']['val']:.4f} test {i8['accuracy'].get('test', float('nan')):.4f}; "
            f"measured {m8}"
        )
    print(f"  verified ONNX: {folder / 'model.onnx'} (card {folder / 'card.json'})")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    p.add_argument("--out", required=True, help="output folder for model.onnx, card.json, ...")
    p.add_argument(
        "--target",
        choices=TARGETS,
        metavar="TARGET",
        help=f"deployment target, one of {', '.join(TARGETS)}; must match the table's "
        "(default: the table's, or ort-cpu without --lut)",
    )
    p.add_argument(
        "--int8", action="store_true", help="also ship a static int8 QDQ model with its accuracy/latency"
    )
    p.add_argument(
        "--calib-images",
        type=int_arg(2, 10_000_000),
        help="training images for BN recalibration, >= 2 (default: the run's)",
    )
    p.add_argument(
        "--dynamo", action="store_true", help="use the dynamo ONNX exporter (default: TorchScript)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export or search in --out")
    add_threads(
        p,
        what="BN recalibration and scoring; small subnets: 1 avoids oversubscription; latency is measured "
        "with the table's thread count",
    )
    p.add_argument("--device", default="auto", help="BN recalibration and scoring: auto, cpu, cuda, cuda:N")
    add_quiet(p)
    add_json(p, "what was shipped")
    p.add_argument(
        "-j",
        "--loader-workers",
        type=int_arg(0, 256),
        default=0,
        metavar="N",
        help="DataLoader processes decoding the evaluation images (0: in this process)",
    )
    p.add_argument(
        "--provider",
        default="CPUExecutionProvider",
        action=Given,
        help="onnxruntime execution provider the model will run on; must be the table's (default CPU)",
    )
    p.add_argument(
        "--atol",
        type=float_arg(0, None, lo_open=True),
        default=1e-4,
        help="max |onnxruntime - PyTorch| logit difference",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="search under a latency budget and export the best subnet")
    _common(p)
    p.add_argument("--lut", required=True, help="latency table JSON (`supernet latency build`)")
    p.add_argument(
        "--budget",
        metavar="X[,Y...]",
        help="budget(s) in the table's unit (--unit), comma separated: 1.5,2,2.5",
    )
    p.add_argument(
        "--unit",
        help="unit of --budget, which must be the table's: ms, mmacs or mparams (default: the table's unit)",
    )
    p.add_argument(
        "--budget-ms", metavar="MS[,MS...]", help="budget(s) in ms, for a table of measured latency"
    )
    p.add_argument(
        "--strategy", default="coarse-to-fine", help="coarse-to-fine (default), random or evolution"
    )
    p.add_argument(
        "--evals",
        type=int_arg(1, 1_000_000),
        default=DEFAULT_EVALS,
        help="archs scored in all (shared by the budgets)",
    )
    p.add_argument(
        "--search-calib-images",
        type=int_arg(2, 10_000_000),
        default=SEARCH_CALIB_IMAGES,
        help=f"training images for BN recalibration while scoring archs (default {SEARCH_CALIB_IMAGES}; "
        "the shipped subnet is recalibrated on --calib-images)",
    )
    p.add_argument("--seed", type=int_arg(0, MAX_SEED), default=0, help="search seed")
    p.add_argument(
        "--resume",
        action="store_true",
        help="reuse the scores in --out/search.json of an earlier search (same checkpoint and data) for free",
    )
    p.set_defaults(func=_extract)

    p = sub.add_parser("export", help="export a given arch of a checkpoint to verified ONNX")
    _common(p)
    p.add_argument("--arch", required=True, help=ARCH_HELP)
    p.add_argument("--lut", help="latency table, to record the predicted latency in the card")
    p.set_defaults(func=_export)
