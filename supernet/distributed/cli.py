"""The Ray command-line pieces: the cluster options of `supernet train` and the `supernet tune` command."""

from __future__ import annotations

import argparse
import dataclasses
import json

from ..checks import MAX_SEED, float_arg, int_arg
from ..cli_common import Given, add_count, given_among, it_or_them
from .cluster import ClusterError, check_job_paths
from .tune import SweepSpace, results_table, run_sweep


class _DeprecatedWorkers(argparse.Action):
    """`--workers N`, the earlier name of `--num-workers N`: still accepted, with a warning."""

    def __call__(self, parser, namespace, values, option_string=None):
        import sys

        print("supernet: warning: --workers is deprecated; use --num-workers", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_distributed_args(parser: argparse.ArgumentParser) -> None:
    """The Ray options of `supernet train` (`args.ray_workers` is None for a plain process)."""
    g = parser.add_argument_group("Ray cluster (leave out --num-workers to train in this process)")
    g.add_argument(
        "--num-workers",
        dest="ray_workers",
        type=int_arg(1, 100_000),
        metavar="N",
        help="train on N Ray Train workers (Ray's num_workers); the global batch is N x --batch-size "
        "(lr is not rescaled); data-loader workers are -j",
    )
    g.add_argument(
        "--workers",
        dest="ray_workers",
        type=int_arg(1, 100_000),
        action=_DeprecatedWorkers,
        help=argparse.SUPPRESS,
    )
    g.add_argument(
        "--gpus-per-worker",
        type=float_arg(0, 1024),
        default=0.0,
        metavar="G",
        action=Given,
        help="GPUs per worker (NCCL if > 0)",
    )
    g.add_argument(
        "--cpus-per-worker",
        type=float_arg(0, 4096, lo_open=True),
        default=1.0,
        metavar="C",
        action=Given,
        help="CPUs (and torch threads) per worker",
    )
    g.add_argument(
        "--address",
        metavar="ADDR",
        action=Given,
        help="auto (cluster started with `ray start` here), HOST:PORT or ray://HOST:PORT; "
        "default: $RAY_ADDRESS, else a local cluster",
    )
    g.add_argument(
        "--storage",
        metavar="PATH_OR_URI",
        action=Given,
        help="where Ray keeps checkpoints (shared path or s3://, gs://); default: <out>/ray",
    )
    g.add_argument(
        "--max-failures",
        type=int_arg(-1, 1_000_000),
        default=2,
        metavar="K",
        action=Given,
        help="restart the workers from the last checkpoint up to K times (-1: forever)",
    )
    g.add_argument(
        "--placement-strategy",
        default="PACK",
        action=Given,
        choices=("PACK", "SPREAD", "STRICT_SPREAD", "STRICT_PACK"),
        help="how Ray places the workers on nodes: PACK fills nodes first, SPREAD spreads where it can, "
        "STRICT_SPREAD one worker per node (fails if there are fewer nodes), STRICT_PACK all on one node",
    )
    g.add_argument(
        "-v",
        "--verbose",
        action=Given,
        nargs=0,
        const=True,
        default=False,
        help="also show Ray's own log lines (worker-group set-up, every rank's reports, cluster warnings) "
        "(default: off)",
    )
    g.add_argument(
        "--check-sync",
        action=Given,
        nargs=0,
        const=True,
        default=False,
        help="hash the weights on every rank before every step and stop if they differ (slow; debugging) "
        "(default: off)",
    )


# Options that only Ray Train's workers use, and those that only a run in this machine's processes uses.
_RAY_ONLY = {"--gpus-per-worker", "--cpus-per-worker", "--address", "--storage", "--max-failures",
             "--placement-strategy", "-v", "--verbose", "--check-sync"}  # fmt: skip
_LOCAL_ONLY = {"--nproc-per-node"}


def check_cluster_options(args: argparse.Namespace) -> None:
    """Refuse an option that the chosen way of training would ignore: a Ray option without
    `--num-workers`, or `--nproc-per-node`/`--threads` with it (Ray starts the workers and gives each
    `--cpus-per-worker` threads)."""
    if args.ray_workers is None:
        stray = given_among(args, _RAY_ONLY)
        if stray:
            raise ClusterError(
                f"{', '.join(stray)} only appl{'ies' if len(stray) == 1 else 'y'} to Ray Train; add "
                f"--num-workers N to train on Ray workers, or leave {it_or_them(stray)} out to train in this "
                "machine's processes"
            )
        return
    local = given_among(args, _LOCAL_ONLY) + (["--threads"] if args.threads is not None else [])
    if local:
        raise ClusterError(
            f"{', '.join(local)} cannot be combined with --num-workers: Ray starts the workers "
            "(--num-workers N) and gives each --cpus-per-worker torch threads"
        )


def _tune(args: argparse.Namespace) -> int:
    from ..cli_common import command_line
    from ..files import atomic_write_text
    from ..outdir import check_fresh_dir, owned_folder
    from ..train.config import TrainConfig
    from .tune import best_config, train_command

    check_job_paths(out=args.out, storage=args.storage)
    out = check_fresh_dir(args.out, args.overwrite, what="tune results")
    base = TrainConfig.load(args.config) if args.config else TrainConfig()
    full_epochs = args.train_epochs or base.epochs  # what the chosen recipe is trained for afterwards
    overrides = {k: v for k, v in (("space", args.space), ("dataset", args.dataset), ("data_dir", args.data),
                                   ("epochs", args.epochs), ("batch_size", args.batch_size)) if v is not None}  # fmt: skip
    base = dataclasses.replace(base, **overrides)
    sweep = SweepSpace(
        lr=tuple(args.lr), num_random=tuple(args.num_random), label_smoothing=tuple(args.label_smoothing),
        warmup_epochs=tuple(args.warmup_epochs),
    )  # fmt: skip
    with owned_folder(out, "tune folder"):  # one sweep per folder; removed again if nothing was written
        rows = run_sweep(
            base, sweep, num_samples=args.samples, cpus_per_trial=args.cpus_per_trial,
            grace_epochs=args.grace_epochs, reduction_factor=args.reduction_factor, address=args.address,
            storage=args.storage or str(out.resolve() / "ray"), seed=args.seed,
        )  # fmt: skip
        best = best_config(base, rows[0], full_epochs, args.train_out or str(out / "best-run"))
        atomic_write_text(out / "best_config.json", best.to_json() + "\n")
        train = train_command(out / "best_config.json")
        atomic_write_text(out / "tune_results.md", results_table(rows, command_line(), train))
    print(
        json.dumps({k: rows[0][k] for k in ("lr", "num_random", "label_smoothing", "warmup_epochs", "score")})
    )
    print(f"best config ({best.epochs} epochs): {out / 'best_config.json'}; table: {out / 'tune_results.md'}")
    print(f"train it: {train}")
    return 0


def register_tune(sub: argparse._SubParsersAction) -> None:
    """Add `supernet tune`."""
    add_tune_args(
        sub.add_parser("tune", help="ASHA sweep (Ray Tune) over lr, random subnets, label smoothing, warmup")
    )


def add_tune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        metavar="FILE",
        help="base training config, YAML or JSON (default: the `supernet train` defaults)",
    )
    p.add_argument("--space", help="search-space preset or file (overrides --config)")
    p.add_argument("--dataset", help="data set (overrides --config)")
    p.add_argument("--data", metavar="DIR", help="data directory (overrides --config)")
    p.add_argument("--epochs", type=int, help="epochs per trial, ASHA's max (overrides --config)")
    p.add_argument(
        "--train-epochs",
        type=int_arg(1, 1_000_000),
        metavar="N",
        help="epochs of the full training the best config is written for (default: --config's epochs, "
        "else the `supernet train` default), not the shorter trial length",
    )
    p.add_argument(
        "--train-out", metavar="DIR", help="run directory in the best config (default: <out>/best-run)"
    )
    p.add_argument("--batch-size", type=int, help="batch size (overrides --config)")
    add_count(p, "--samples", (1, 100_000), 8, help="configurations to try")
    p.add_argument(
        "--lr", type=float, nargs=2, default=(0.01, 0.2), metavar=("MIN", "MAX"), help="log-uniform"
    )
    p.add_argument("--num-random", type=int, nargs="+", default=(1, 2, 3), metavar="N", help="choices")
    p.add_argument(
        "--label-smoothing", type=float, nargs=2, default=(0.0, 0.2), metavar=("MIN", "MAX"), help="uniform"
    )
    p.add_argument(
        "--warmup-epochs", type=float, nargs="+", default=(0.0, 1.0, 2.0), metavar="E", help="choices"
    )
    add_count(
        p, "--grace-epochs", (1, 1_000_000), 1, help="ASHA: epochs every trial gets before it can be stopped"
    )
    add_count(p, "--reduction-factor", (2, 1000), 2, help="ASHA: keep 1/rf of the trials at each rung")
    add_count(p, "--cpus-per-trial", (1, 4096), 1, help="CPUs (torch threads) per trial")
    p.add_argument("--address", metavar="ADDR", help="Ray cluster (as for `supernet train`); default: local")
    p.add_argument(
        "--storage", metavar="PATH_OR_URI", help="where Ray Tune keeps trial results; default: <out>/ray"
    )
    p.add_argument("--seed", type=int_arg(0, MAX_SEED), default=0, help="seed of the sampled configurations")
    p.add_argument("--out", default="runs/tune", help="directory for best_config.json and tune_results.md")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a non-empty --out (replacing earlier tune results)",
    )
    p.set_defaults(func=_tune)
