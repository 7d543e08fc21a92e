"""`supernet train` and `supernet space`: the subcommands of the `supernet/` package."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .errors import CheckpointError, SupernetError

# TrainConfig fields whose CLI flag differs from `--field-name` (Ray owns `--workers`).
_TRAIN_FLAGS = {"data_dir": "--data", "workers": "--loader-workers"}
_TRAIN_HELP = {
    "space": "search space: preset or .yaml/.json file",
    "dataset": "digits, fashion-mnist, cifar10, imagefolder or synthetic",
    "data_dir": "data directory (fashion-mnist default: /usr/share/datasets/fashion-mnist)",
    "out": "run directory (checkpoints, metrics.jsonl, config.json)",
    "resume": "continue the run in --out from its last checkpoint",
    "lr": "initial LR for the *sum* of the subnet losses",
    "grad_clip": "clip the gradient norm to this value ('none' to disable)",
    "amp": "mixed precision: none, bf16 or fp16 (GPU)",
    "workers": "DataLoader worker processes",
}


def _optional(kind):
    def parse(text: str):
        return None if text.lower() in ("none", "null") else kind(text)

    parse.__name__ = kind.__name__
    return parse


def _add_train_args(p: argparse.ArgumentParser) -> None:
    from dataclasses import MISSING, fields

    from .train.config import TrainConfig

    p.add_argument("--config", metavar="JSON", help="TrainConfig JSON file; flags given here override it")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="torch CPU threads of a single-process run (default 1: on a busy machine more threads spin-wait "
        "and run far slower; raise it on an idle multi-core CPU)",
    )
    optional_types = {"data_dir": str, "img_size": int, "grad_clip": float}
    for f in fields(TrainConfig):
        flag = _TRAIN_FLAGS.get(f.name, "--" + f.name.replace("_", "-"))
        default = f.default if f.default is not MISSING else None
        kw = {"dest": f"train_{f.name}", "default": argparse.SUPPRESS}
        help_text = _TRAIN_HELP.get(f.name, f.name.replace("_", " "))
        if isinstance(default, bool):
            p.add_argument(
                flag, action=argparse.BooleanOptionalAction, help=f"{help_text} (default {default})", **kw
            )
        else:
            kind = _optional(optional_types[f.name]) if f.name in optional_types else type(default)
            p.add_argument(
                flag, type=kind, metavar=kind.__name__.upper(), help=f"{help_text} (default {default})", **kw
            )


def _train(args: argparse.Namespace) -> int:
    from .train.config import TrainConfig

    base = TrainConfig.load(args.config).to_dict() if args.config else {}
    given = {k[len("train_") :]: v for k, v in vars(args).items() if k.startswith("train_")}
    merged = {**base, **given}
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
    config = TrainConfig.from_dict(merged)
    from .space import SearchSpace

    SearchSpace.resolve(config.space)  # a bad space fails here, before any data is read
    if getattr(args, "ray_workers", None) is not None:
        from .distributed.launch import RayConfig, train_distributed

        final = train_distributed(config, RayConfig.from_args(args))
    else:
        import torch

        from .train.trainer import Trainer

        if args.threads < 1:
            raise SupernetError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
        final = Trainer(config).fit()
    print(
        f"done: {config.out}  test accuracy smallest {final['test_acc_smallest']:.4f} "
        f"largest {final['test_acc_largest']:.4f}"
    )
    return 0


def _space(args: argparse.Namespace) -> int:
    from .arch import ArchConfig
    from .space import SearchSpace

    space = SearchSpace.resolve(args.space)
    if args.validate:
        arch = ArchConfig.load(args.validate).validate(space)
        print(f"ok: {arch} is in {space.name}")
        return 0
    if args.json:
        print(json.dumps(space.to_dict(), indent=2))
    else:
        print(space.describe())
        print(f"fingerprint {space.fingerprint()}; smallest {space.smallest()}; largest {space.largest()}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("space", help="show a search space or check an arch against it")
    p.add_argument("space", help="preset (mbv2-small, mbv2-imagenet) or a .yaml/.json file")
    p.add_argument("--json", action="store_true", help="print the space as JSON")
    p.add_argument("--validate", metavar="ARCH", help="arch JSON file or canonical string to check")
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
