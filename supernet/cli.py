"""`supernet train` and `supernet space`: the subcommands of the `supernet/` package."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from .cli_common import (
    ARCH_HELP,
    SPACE_HELP,
    Given,
    add_json,
    add_quiet,
    add_threads,
    json_mode,
    print_json,
    set_threads,
)
from .errors import CheckpointError, SupernetError

# TrainConfig fields whose CLI flag differs from `--field-name`; fields set by other options are left out
# (`resume`: a path option; `progress`: -q/--quiet).
_TRAIN_FLAGS = {"data_dir": ["--data"], "loader_workers": ["-j", "--loader-workers"]}
_TRAIN_SKIP = {"resume", "progress"}
_TRAIN_HELP = {
    "space": SPACE_HELP,
    "dataset": "digits, fashion-mnist, cifar10, imagefolder or synthetic",
    "data_dir": "data directory (fashion-mnist default: /usr/share/datasets/fashion-mnist)",
    "out": "run directory (checkpoints, metrics.jsonl, config.json)",
    "lr": "initial LR for the *sum* of the subnet losses",
    "grad_clip": "clip the gradient norm to this value ('none' to disable)",
    "amp": "mixed precision: none, bf16 or fp16 (GPU)",
    "loader_workers": "data-loader worker processes (timm's -j); Ray workers are --num-workers",
    "inplace_distill": "in-place distillation (BigNAS): the largest subnet's softmax teaches the others; "
    "off by default: it scored lower in our full-length runs (docs/training.md)",
}


def _optional(kind):
    def parse(text: str):
        return None if text.lower() in ("none", "null") else kind(text)

    parse.__name__ = kind.__name__
    return parse


def _nproc(text: str) -> str:
    if text == "auto" or (text.isdigit() and int(text) >= 1):
        return text
    raise argparse.ArgumentTypeError(f"must be 'auto' or an integer >= 1, got {text!r}")


def _add_train_args(p: argparse.ArgumentParser) -> None:
    from dataclasses import MISSING, fields

    from .train.config import TrainConfig

    p.add_argument(
        "--config", metavar="FILE", help="training config, YAML or JSON; options given here override it"
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,  # bare --resume; an empty RUN is refused as every empty value is (supernet_cli.py)
        metavar="RUN",
        help="continue a run from its last checkpoint: a run directory or its checkpoint.json "
        "(bare --resume: the run in --out)",
    )
    p.add_argument(
        "--nproc-per-node",
        type=_nproc,
        default="auto",
        action=Given,
        metavar="N|auto",
        help="local training processes on this machine (torchrun's name); each takes --batch-size images "
        "per step and they average gradients every step. auto: one per free CPU core while every process "
        "keeps >= 8 steps per epoch; 1 on a GPU",
    )
    add_threads(
        p,
        default=None,
        what="per process; default: free cores / processes. More threads than free cores spin-wait and run "
        "far slower",
    )
    add_quiet(p)
    add_json(p, "the final test accuracies")
    optional_types = {"data_dir": str, "img_size": int, "grad_clip": float, "aa": str, "interpolation": str}
    for f in fields(TrainConfig):
        if f.name in _TRAIN_SKIP:
            continue
        flags = _TRAIN_FLAGS.get(f.name, ["--" + f.name.replace("_", "-")])
        default = f.default if f.default is not MISSING else None
        kw = {"dest": f"train_{f.name}", "default": argparse.SUPPRESS}
        help_text = _TRAIN_HELP.get(f.name, f.name.replace("_", " "))
        if isinstance(default, tuple):
            p.add_argument(
                *flags,
                type=float,
                nargs=len(default),
                metavar=("MIN", "MAX"),
                help=f"{help_text} (default {' '.join(f'{v:.4g}' for v in default)})",
                **kw,
            )
        elif isinstance(default, bool):
            p.add_argument(
                *flags, action=argparse.BooleanOptionalAction, help=f"{help_text} (default {default})", **kw
            )
        else:
            kind = _optional(optional_types[f.name]) if f.name in optional_types else type(default)
            p.add_argument(
                *flags,
                type=kind,
                metavar=kind.__name__.upper(),
                help=f"{help_text} (default {default})",
                **kw,
            )


def _resume_dir(resume: str | bool | None, out: str | None) -> dict:
    """`--resume [RUN]` as TrainConfig fields: RUN (a run directory or its checkpoint.json) names `out`."""
    if resume is None:
        return {}
    if resume is True:
        return {"resume": True}
    p = Path(resume)
    run = p.parent if p.suffix == ".json" or p.is_file() else p
    if out is not None and Path(out).resolve() != run.resolve():
        raise SupernetError(
            f"--resume {resume} and --out {out} name different run directories; give one of them"
        )
    return {"resume": True, "out": str(run)}


def train_config_from_args(args: argparse.Namespace):
    """The TrainConfig of `supernet train`: --config file, then the options given, then --resume/-q."""
    from .train.config import TrainConfig

    base = TrainConfig.load(args.config).to_dict() if args.config else {}
    given = {k[len("train_") :]: v for k, v in vars(args).items() if k.startswith("train_")}
    merged = {**base, **given, **_resume_dir(args.resume, given.get("out"))}
    if merged.get("resume"):
        # A resumed run keeps its saved config; options given now must agree with it (the Trainer lists
        # those that do not), except the few that may change (epochs, progress, device, ...).
        from .train.checkpoint import POINTER, read_pointer

        out = Path(merged.get("out", TrainConfig.out))
        if not (out / POINTER).is_file():
            raise CheckpointError(
                f"--resume: {out} holds no checkpoint ({POINTER} is missing); drop --resume to start "
                "a new run there, or give the run directory to continue"
            )
        saved = read_pointer(out)["config"]
        merged = {**saved, **merged, "out": str(out)}
        from .train.resume import refuse_conflicts

        try:  # a contradiction (e.g. another --dataset) is named as such, before the mix is validated
            given_config, saved_config = TrainConfig(**merged), TrainConfig(**saved)
        except TypeError:  # an old or damaged saved config: from_dict below names the problem
            pass
        else:
            refuse_conflicts(out, given_config, saved_config)
    if args.quiet or args.json:
        merged["progress"] = False
    return TrainConfig.from_dict(merged)


def _train(args: argparse.Namespace) -> int:
    with json_mode(args.json):
        final, config = _run_training(args)
        print(
            f"done: {config.out}  test accuracy smallest {final['test_acc_smallest']:.4f} "
            f"largest {final['test_acc_largest']:.4f}"
        )
    if args.json:
        print_json({"command": "train", "out": str(config.out), **final})
    return 0


def _run_training(args: argparse.Namespace):
    from ._alias import for_training
    from .distributed.cli import check_cluster_options
    from .train.onednn import widen_primitive_cache

    check_cluster_options(args)  # an option the chosen way of training would ignore is refused first
    cache_note = widen_primitive_cache()  # before any convolution of this process or of the ranks it starts
    cache_note += for_training()  # aliasing leaves here and in the ranks; a bad SUPERNET_SLICE is refused
    _check_kernel_env()
    config = train_config_from_args(args)
    from .distributed.cluster import check_job_paths
    from .space import SearchSpace

    check_job_paths(out=config.out, storage=getattr(args, "storage", None))
    SearchSpace.resolve(config.space)  # a bad space fails here, before any data is read
    if getattr(args, "ray_workers", None) is not None:
        from .distributed.launch import RayConfig, train_distributed

        final = train_distributed(config, RayConfig.from_args(args))
    else:
        final = _train_here(config, args, cache_note)
    return final, config


def _train_here(config, args: argparse.Namespace, cache_note: str) -> dict:
    """One process, or `--nproc-per-node` local processes; says which and why (on stderr)."""
    import sys

    from .train.procs import choose_procs, run_data, saved_world_size, train_local
    from .train.trainer import Trainer

    nproc = args.nproc_per_node
    if nproc == "auto" and config.resume:
        nproc = str(saved_world_size(config.out) or "auto")  # a resumed run keeps its process count
    bundle = run_data(config)  # opened once: its size picks the process count, one process trains on it
    choice = choose_procs(
        nproc,
        args.threads,
        train_images=len(bundle.train),
        batch_size=config.batch_size,
        device=config.device,
    )

    calib = len(bundle.calib_source)  # more asked for: all of them, and the line says so
    calib_note = (
        f"; BN calibration on all {calib} training images (calib_images {config.calib_images} is more)"
        if config.calib_images > calib
        else ""
    )

    def say() -> None:  # once the run is set up, so a refused run prints only its one error line
        print(
            f"[train] {choice.nproc} process(es) x {choice.threads} thread(s), global batch "
            f"{config.batch_size}: {choice.reason}{_dw_kernel_note(config)}; {cache_note}{calib_note}",
            file=sys.stderr,
            flush=True,
        )

    if choice.nproc > 1:
        say()
        return train_local(config, choice.nproc, choice.threads)
    set_threads(choice.threads)
    trainer = Trainer(config, bundle=bundle)
    say()
    return trainer.fit()


def _check_kernel_env() -> None:
    """The kernel switches take two values each; any other is refused before anything starts."""
    for name, allowed in (("SUPERNET_DW_GRAD", ("c", "torch")), ("SUPERNET_CUDA_CONV", ("native", "cudnn"))):
        value = os.environ.get(name)
        if value is not None and value not in allowed:
            raise SupernetError(f"{name}={value!r}: expected {allowed[0]!r} (the default) or {allowed[1]!r}")


def _dw_kernel_note(config) -> str:
    """Which convolution kernels the run uses: on CPU the depthwise weight gradient (compiles the C kernel
    here, once, before any rank); on CUDA the plan-free ops or cuDNN (SUPERNET_CUDA_CONV)."""
    from . import _cuda_conv
    from ._dwgrad import kernel_available, kernel_enabled
    from .train.device import resolve_device

    kind = resolve_device(config.device).type
    if kind == "cuda":
        if _cuda_conv.plan_free():
            return "; convolutions: 1x1 as matrix products, depthwise on PyTorch's CUDA kernels (no cuDNN plan per new subnet shape; SUPERNET_CUDA_CONV=cudnn for cuDNN)"
        return "; convolutions: cuDNN (SUPERNET_CUDA_CONV=cudnn: one plan built per new subnet shape)"
    if kind != "cpu" or config.amp != "none":
        return ""
    if not kernel_enabled():
        return "; 5x5/7x7 depthwise weight gradient: PyTorch's (SUPERNET_DW_GRAD=torch)"
    if kernel_available():
        return "; 5x5/7x7 depthwise weight gradient: the C kernel"
    return "; 5x5/7x7 depthwise weight gradient: PyTorch's (the C kernel did not compile, see above)"


def _space(args: argparse.Namespace) -> int:
    from .named import names_in, resolve_arch
    from .space import SearchSpace

    space = SearchSpace.resolve(args.space)
    if args.validate:
        arch = resolve_arch(args.validate, space)
        if args.json:
            print(json.dumps({"space": space.name, "arch": str(arch), "in_space": True}))
        else:
            print(f"ok: {arch} is in {space.name}")
        return 0
    if args.arch:
        arch = resolve_arch(args.arch, space)
        print(arch.to_json() if args.json else arch)
        return 0
    if args.json:
        print(json.dumps(space.to_dict(), indent=2))
    else:
        print(space.describe())
        print(f"fingerprint {space.fingerprint()}; smallest {space.smallest()}; largest {space.largest()}")
        for name in names_in(space):
            print(f"named member {name}: {resolve_arch(name, space)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("space", help="show a search space or check an arch against it")
    p.add_argument("space", help=SPACE_HELP)
    p.add_argument(
        "--json", action="store_true", help="print the space (or --arch, --validate's result) as JSON"
    )
    one = p.add_mutually_exclusive_group()
    one.add_argument("--validate", metavar="ARCH", help=f"check that an arch is in the space; {ARCH_HELP}")
    one.add_argument("--arch", metavar="ARCH", help=f"print one member of the space; {ARCH_HELP}")
    p.set_defaults(func=_space)

    p = sub.add_parser(
        "train",
        help="train a supernet with the BigNAS recipe",
        description="Train an elastic MobileNetV2 supernet (BigNAS: sandwich rule, in-place distillation, "
        "zero-gamma, exponential LR with a constant tail). Writes checkpoints and metrics.jsonl to --out.",
    )
    _add_train_args(p)
    from .distributed.cli import add_distributed_args, register_tune

    add_distributed_args(p)
    p.set_defaults(func=_train)
    register_tune(sub)
