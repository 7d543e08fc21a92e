"""What every Ray Train worker runs: restore (if any), an unchanged `Trainer` with its rank, a report per epoch."""

from __future__ import annotations

import dataclasses
import functools
import logging
import shutil
import tempfile
from pathlib import Path

from ..outdir import LOCK


def train_worker(loop_config: dict) -> None:
    """Ray Train's per-worker loop: restore (if any), run the Trainer, report every epoch to Ray."""
    import ray.train
    import torch
    from ray.train.torch import get_device

    from .._alias import for_training
    from ..train.config import TrainConfig
    from ..train.onednn import widen_primitive_cache
    from ..train.trainer import Trainer
    from .sync import StepSync, broadcast_model, gather_digests, mean_over_ranks

    widen_primitive_cache()  # a worker on another node did not inherit the driver's setting
    for_training()  # sliced weights as aliasing leaves, as `supernet train` uses them (supernet/_alias.py)

    if not loop_config.get("verbose"):
        # Ray Train logs every rank's "Reporting training result N: TrainingReport(...)" at INFO through
        # the root logger it set up for this worker; rank 0's own progress lines are printed, not logged
        logging.getLogger().setLevel(logging.WARNING)
    ctx = ray.train.get_context()
    rank, world_size = ctx.get_world_rank(), ctx.get_world_size()
    torch.set_num_threads(loop_config["threads"])
    device = get_device()
    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL object collectives use the current device
    work = Path(tempfile.gettempdir()) / f"supernet-ray-{ctx.get_experiment_name()}-rank{rank}"
    shutil.rmtree(work, ignore_errors=True)
    restore = ray.train.get_checkpoint()
    if restore is None and loop_config["resume_from"]:
        restore = ray.train.Checkpoint(loop_config["resume_from"])
    if restore is not None:
        restore.to_directory(str(work))
        (work / LOCK).unlink(missing_ok=True)  # the dead worker's lock travelled with its checkpoint
    user_config = TrainConfig.from_dict(loop_config["config"])
    config = dataclasses.replace(user_config, out=str(work), resume=restore is not None, progress=False)

    sync = StepSync(check=loop_config["check_sync"])

    def report(metrics: dict, final: bool = False) -> None:
        """Every rank, every epoch: prove the ranks agree, then hand rank 0's run directory to Ray."""
        digests = gather_digests(trainer.model)
        if len(set(digests)) > 1:
            raise RuntimeError(f"ranks diverged by epoch {trainer.epoch}: weight digests {digests}")
        metrics = {k: v for k, v in metrics.items() if k != "checkpoint"}  # a worker-local path
        metrics.update(weights_sha256=digests[0], world_size=world_size)
        if sync.check and final:
            metrics["rank_digests"] = sync.digests  # [step][rank], the parameters before each step
        checkpoint = ray.train.Checkpoint.from_directory(str(work)) if rank == 0 else None
        ray.train.report(metrics, checkpoint=checkpoint, delete_local_checkpoint_after_upload=False)

    trainer = Trainer(
        config, rank=rank, world_size=world_size, grad_sync=sync, is_main=rank == 0,
        on_epoch_end=report, reduce_scalar=functools.partial(mean_over_ranks, device=device), device=device,
    )  # fmt: skip
    broadcast_model(trainer.model)
    final = trainer.fit()
    # once more with the test accuracies, and metrics.jsonl now ending in the final record
    report(final or {"final": True}, final=True)
    shutil.rmtree(work, ignore_errors=True)
