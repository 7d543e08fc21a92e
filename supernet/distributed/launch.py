"""The driver of `supernet train --num-workers N`: the same Trainer on N Ray Train workers (gloo on CPU, NCCL on GPU).

Each worker runs an unchanged `Trainer` with its rank: the train split is sharded by rank, the subnets
of a step come from (seed, step) so all ranks agree, and `sync.allreduce_step` averages the
whole sandwich's gradients (and BN statistics) in one all-reduce per step, so every rank holds
bit-identical weights after every step. The loss is averaged too (one float) so the collapse guard
decides alike everywhere.

Batch and LR: `batch_size` is per worker, so the global batch is `batch_size x N`. Gradients are
averaged over ranks, so one step at N workers is one step on the N-times larger batch with the
*same* `lr`; nothing is rescaled for you. To keep the per-image update of a 1-worker recipe, scale
`lr` linearly (`lr x N`, Goyal et al. 2017) and keep the warmup; the epoch count stays the same
(each epoch has N times fewer steps).

Checkpoints: rank 0 writes the ordinary single-process checkpoint into its working directory at the
end of every epoch and hands that directory to `ray.train.report(..., checkpoint=...)`, which copies
it to `<storage>/<name>/checkpoint_*`. When a worker dies, Ray restarts the group (up to
`max_failures` times) and every rank resumes from the last reported checkpoint, losing at most one
epoch. At the end the latest checkpoint is also written into `config.out`, so the run directory looks
exactly like a single-process one (extract it, resume it in one process, or resume it on Ray).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError, SupernetError
from ..files import atomic_write, atomic_write_text
from ..outdir import FolderLock, check_out_dir
from ..space import SearchSpace
from .cluster import ClusterError, check_resources, connect, local_resources, starts_local_cluster

# Ray's placement-group strategies for the workers: PACK fills nodes, SPREAD spreads them where it can,
# STRICT_SPREAD puts every worker on a different node (or fails), STRICT_PACK on one node.
PLACEMENT_STRATEGIES = ("PACK", "SPREAD", "STRICT_SPREAD", "STRICT_PACK")


@dataclass(frozen=True)
class RayConfig:
    """Where and how wide to train. `storage` defaults to `<out>/ray`; `name` to the run directory's name."""

    workers: int
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    address: str | None = None
    storage: str | None = None
    name: str | None = None
    max_failures: int = 2
    check_sync: bool = False
    placement_strategy: str = "PACK"
    verbose: bool = False

    def validate(self) -> RayConfig:
        if self.workers < 1:
            raise ClusterError(f"--num-workers must be >= 1, got {self.workers}")
        if self.gpus_per_worker < 0 or self.cpus_per_worker <= 0:
            raise ClusterError(
                f"--gpus-per-worker must be >= 0 and --cpus-per-worker > 0, got {self.gpus_per_worker:g} "
                f"and {self.cpus_per_worker:g}"
            )
        if self.placement_strategy not in PLACEMENT_STRATEGIES:
            raise ClusterError(
                f"--placement-strategy {self.placement_strategy!r} is unknown; allowed: "
                f"{', '.join(PLACEMENT_STRATEGIES)}"
            )
        if self.max_failures < -1:
            raise ClusterError(f"--max-failures must be >= 0 (or -1 for unlimited), got {self.max_failures}")
        return self

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RayConfig:
        return cls(
            workers=args.ray_workers,
            gpus_per_worker=args.gpus_per_worker,
            cpus_per_worker=args.cpus_per_worker,
            address=args.address,
            storage=args.storage,
            max_failures=args.max_failures,
            check_sync=args.check_sync,
            placement_strategy=args.placement_strategy,
            verbose=getattr(args, "verbose", False),
        ).validate()


def _storage(out: Path, ray_config: RayConfig) -> tuple[str, str]:
    return ray_config.storage or str(out / "ray"), ray_config.name or out.name


def _ray_run_exists(storage: str, name: str) -> bool:
    """Whether Ray already holds checkpoints of run `name` in `storage` (Ray would resume it silently)."""
    import pyarrow.fs

    fs, root = pyarrow.fs.FileSystem.from_uri(storage if "://" in storage else str(Path(storage).resolve()))
    info = fs.get_file_info(f"{root}/{name}/checkpoint_manager_snapshot.json")
    return info.type != pyarrow.fs.FileType.NotFound


def _stage_resume(out: Path, storage: str, name: str) -> str:
    """Copy the run directory's checkpoint next to the Ray run, where workers on any node can read it."""
    import pyarrow.fs

    from ..train.checkpoint import POINTER

    desc = json.loads((out / POINTER).read_text())
    files = [desc["weights"], desc["state"], "metrics.jsonl", POINTER]  # the pointer last
    if "://" in storage:
        fs, root = pyarrow.fs.FileSystem.from_uri(storage)
    else:
        fs, root = pyarrow.fs.LocalFileSystem(), str(Path(storage).resolve())
    dest = f"{root}/{name}.resume-from"
    fs.create_dir(dest)
    for f in files:
        if (out / f).is_file():
            with open(out / f, "rb") as src, fs.open_output_stream(f"{dest}/{f}") as dst:
                shutil.copyfileobj(src, dst)
    return dest if "://" not in storage else storage.rstrip("/") + f"/{name}.resume-from"


def train_distributed(config, ray_config: RayConfig) -> dict:
    """Train `config` (a TrainConfig) on `ray_config.workers` Ray workers; returns the final test metrics.

    Raises ClusterError within seconds for an unreachable cluster or one too small for the workers,
    and CheckpointError (as a single process would) when `config.out` already holds a run and
    `config.resume` is off.
    """
    import ray

    from ..train.checkpoint import POINTER

    config = absolute_paths(config.validate())
    ray_config = ray_config.validate()
    out = Path(config.out).resolve()
    storage, name = _storage(out, ray_config)
    has_ckpt = (out / POINTER).is_file()
    if not config.resume and (has_ckpt or _ray_run_exists(storage, name)):
        raise CheckpointError(
            f"{out} already holds a checkpoint (or Ray run {storage}/{name} does); pass --resume to continue it "
            "or choose another --out"
        )
    if not config.resume:
        from ..train.resume import check_new_run_files

        check_new_run_files(out)  # before Ray starts: the workers' run would replace them
    owns_connection = not ray.is_initialized()
    if starts_local_cluster(ray_config.address):  # fail before spending seconds on starting Ray
        check_resources(
            local_resources(), ray_config.workers, ray_config.cpus_per_worker, ray_config.gpus_per_worker
        )
    with FolderLock(check_out_dir(out)), _train_env(ray_config.verbose):  # one run per directory
        resources = connect(ray_config.address, quiet=not ray_config.verbose)
        try:
            check_resources(
                resources, ray_config.workers, ray_config.cpus_per_worker, ray_config.gpus_per_worker
            )
            trainer = _make_trainer(
                config, ray_config, out=out, storage=storage, name=name, has_ckpt=has_ckpt
            )
            result = _fit(trainer)
        finally:
            if owns_connection:
                ray.shutdown()
        if result.checkpoint is None:
            raise ClusterError(f"the Ray run {storage}/{name} finished without a checkpoint")
        with result.checkpoint.as_directory() as ckpt_dir:
            _publish(Path(ckpt_dir), out, config)
    return dict(result.metrics)


@contextlib.contextmanager
def _train_env(verbose: bool) -> Iterator[None]:
    """Ray Train's environment switches for this run (Ray hands the ones set here on to its workers).

    Workers' `print` goes straight to their stdout (rank 0's progress), not through a logger whose level
    decides whether it shows. Ray Train's preemption watcher only logs node drains (this loop does not
    read `ray.train.get_preemption_info`; a lost node is a worker failure, restarted from the last
    checkpoint), and setting it up logs an error line on the console: it runs only with --verbose.
    """
    switches = {"RAY_TRAIN_ENABLE_PRINT_PATCH": "0"}
    if not verbose:
        switches["RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"] = "0"
    saved = {k: os.environ.get(k) for k in switches}
    os.environ.update({k: v for k, v in switches.items() if saved[k] is None})  # a user's own setting wins
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)


def absolute_paths(config):
    """`config` with its local file paths (space file, data folder) made absolute.

    Ray workers run in their own working directory (on other nodes too), where a path relative to the
    driver's names nothing: a worker given `--space spaces/s.yaml` failed with a traceback on every retry.
    """
    import dataclasses

    changes = {}
    if config.space not in SearchSpace.preset_names():
        changes["space"] = str(Path(config.space).resolve())
    if config.data_dir and "://" not in config.data_dir:
        changes["data_dir"] = str(Path(config.data_dir).resolve())
    return dataclasses.replace(config, **changes)


def _make_trainer(config, ray_config: RayConfig, *, out: Path, storage: str, name: str, has_ckpt: bool):
    from ray.train import CheckpointConfig, FailureConfig, LoggingConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from .worker import train_worker

    use_gpu = ray_config.gpus_per_worker > 0
    loop_config = {
        "config": config.to_dict(),
        "resume_from": _stage_resume(out, storage, name) if config.resume and has_ckpt else None,
        "threads": max(1, int(ray_config.cpus_per_worker)),
        "check_sync": ray_config.check_sync,
        "verbose": ray_config.verbose,
    }
    return TorchTrainer(
        train_worker,
        train_loop_config=loop_config,
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ScalingConfig(
            num_workers=ray_config.workers,
            use_gpu=use_gpu,
            resources_per_worker={"CPU": ray_config.cpus_per_worker, "GPU": ray_config.gpus_per_worker},
            placement_strategy=ray_config.placement_strategy,
        ),
        run_config=RunConfig(
            name=name,
            storage_path=storage,
            failure_config=FailureConfig(max_failures=ray_config.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            # Ray Train's own lines (worker-group set-up, checkpoint uploads, its internal warnings) stay in
            # its log files (--verbose shows them); rank 0 prints the run's progress
            logging_config=LoggingConfig(log_level="INFO" if ray_config.verbose else "ERROR"),
        ),
    )


def _fit(trainer):
    """`trainer.fit()`, turning a user error raised inside a worker back into a one-line SupernetError."""
    from ray.train import TrainingFailedError

    try:
        return trainer.fit()
    except TrainingFailedError as e:
        for failure in getattr(e, "worker_failures", {}).values():
            cause = getattr(failure, "cause", None) or failure
            if isinstance(cause, SupernetError):
                raise type(cause)(str(cause)) from None
        raise


def _publish(ckpt_dir: Path, out: Path, config) -> None:
    """Rewrite Ray's latest checkpoint as the run directory's checkpoint (same format, atomic pointer);
    its metrics log and the run's config beside it, each replaced whole."""
    from ..train.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(ckpt_dir)
    save_checkpoint(
        out,
        ckpt.model,
        config,
        epoch=ckpt.epoch,
        step=ckpt.step,
        train_state=ckpt.train_state(),
        meta=ckpt.meta,
    )
    if (ckpt_dir / "metrics.jsonl").is_file():
        atomic_write(out / "metrics.jsonl", lambda tmp: shutil.copyfile(ckpt_dir / "metrics.jsonl", tmp))
    atomic_write_text(out / "config.json", config.to_json())
