"""`Trainer`: the BigNAS recipe end to end in one process, reusable by a distributed wrapper.

For Ray Train (or any DDP-like launcher) construct one Trainer per worker with its `rank`/`world_size`:
the train split is sharded by rank (`DistributedSampler`, same seed everywhere), every rank builds the
same initial weights from `config.seed`, and the subnets of a step come from (seed, step) so ranks agree.
`grad_sync(model)` runs once per step after the sandwich backward and before clipping and the optimizer
step (e.g. all-reduce-average each `param.grad`). `reduce_scalar(x)` should average a float over ranks
so the collapse guard decides alike everywhere and each epoch's `cpu_time_s` (process CPU time, user + system,
summed over ranks: the run's cost in CPU-hours) can be recorded; without it (and world_size > 1) the guard
only acts on non-finite gradients and `cpu_time_s` is left out. Validation, checkpoints and metrics files happen only where `is_main`;
`on_epoch_end(metrics)` is called on every rank after every epoch.

Exact resume (same weights as an uninterrupted run) holds for a single process on CPU.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from ..files import append_line, atomic_write_text, write_json
from ..model import ElasticMobileNetV2
from ..outdir import FolderLock, check_out_dir
from ..space import SearchSpace
from .augment import Augmentation
from .checkpoint import POINTER, clean_run_dir, load_checkpoint, save_checkpoint
from .config import TrainConfig, TrainConfigError
from .data import DataBundle, load_data
from .device import resolve_device
from .evalset import EvalSet, calibration_set
from .evaluate import evaluate_extremes
from .guard import CollapseGuard, Snapshot, check_health, weight_norm
from .loader import shard_loader
from .optim import create_train_optimizer, create_train_scheduler
from .resume import check_resume, repair_metrics, restore_train_state, train_state
from .sandwich import sandwich_backward, step_archs

METRICS = "metrics.jsonl"


class Trainer:
    def __init__(
        self,
        config: TrainConfig,
        rank: int = 0,
        world_size: int = 1,
        grad_sync: Callable[[torch.nn.Module], None] | None = None,
        is_main: bool = True,
        on_epoch_end: Callable[[dict], None] | None = None,
        reduce_scalar: Callable[[float], float] | None = None,
        device: torch.device | str | None = None,
        batch_per_rank: int | None = None,
        bundle: DataBundle | None = None,
    ) -> None:
        self.config = config.validate()
        self.rank, self.world_size, self.is_main = rank, world_size, is_main
        self.grad_sync, self.on_epoch_end, self.reduce_scalar = grad_sync, on_epoch_end, reduce_scalar
        self.device = torch.device(device) if device is not None else resolve_device(config.device)
        self.out = Path(config.out)
        # Ray workers each take `batch_size` images; local processes split it (`batch_per_rank`).
        self.batch_per_rank = batch_per_rank or config.batch_size
        self.space = SearchSpace.resolve(config.space)
        self._lock: FolderLock | None = None
        self.bundle = bundle  # None: opened in _setup; given: loaded by `procs.run_data(config)` already
        created = not _exists(self.out)
        try:
            self._claim()  # before any data is read: a busy or mismatched run directory fails in a second
            self._setup()
        except BaseException:
            self.close()
            if created and is_main:
                with contextlib.suppress(OSError):
                    self.out.rmdir()  # only when empty: a refused run leaves nothing behind
            raise

    def _setup(self) -> None:
        config, rank, world_size, is_main = self.config, self.rank, self.world_size, self.is_main
        self.bundle = self.bundle or load_data(
            config.dataset,
            config.data_dir,
            seed=config.seed,
            val_fraction=config.val_fraction,
            augment=config.augment,
            img_size=config.img_size or max(self.space.resolutions),
            augmentation=Augmentation.from_config(config),
        )
        torch.manual_seed(config.seed)  # identical initial weights on every rank
        self.model = ElasticMobileNetV2(
            self.space,
            num_classes=self.bundle.num_classes,
            in_chans=self.bundle.in_chans,
            drop_rate=config.drop_rate,
            drop_path_rate=config.drop_path_rate,
            kernel_transform=config.kernel_transform,
        )
        if config.zero_gamma:
            self.model.zero_init_last()
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.model.to(self.device, memory_format=self.memory_format)
        torch.manual_seed(config.seed * 1000 + rank + 1)  # augmentation/dropout randomness differs per rank
        self.sampler, self.loader = shard_loader(
            self.bundle.train, self.batch_per_rank, workers=config.loader_workers,
            pin_memory=self.device.type == "cuda", rank=rank, world_size=world_size, seed=config.seed,
        )  # fmt: skip
        if len(self.loader) == 0:
            raise TrainConfigError(
                f"batch_size {self.batch_per_rank} exceeds the {len(self.sampler)} training images per rank"
            )
        self.optimizer = create_train_optimizer(self.model, config)
        self.scheduler = create_train_scheduler(self.optimizer, config, len(self.loader))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=config.amp == "fp16")
        self.guard = CollapseGuard(config.spike_factor, config.spike_warmup_steps, config.max_skips)
        self.initial_norm = weight_norm(self.model)
        self.epoch = self.step = 0
        self.epoch_cpu_s = 0.0
        self.rollbacks = 0
        if is_main:  # other ranks read only their shard of the train split
            # evaluation reads images through the run's preprocessing contract (the shipped model's card)
            self.calib = calibration_set(
                self.bundle, config.calib_images, seed=config.seed, workers=config.loader_workers
            )
            self.val = self._eval_set(self.bundle.val)
        self._start()
        self._snapshot()

    # ---- state ----------------------------------------------------------------------------
    def _claim(self) -> None:
        """Own the run directory (main rank) and check --resume against what the directory holds."""
        if self.is_main:
            check_out_dir(self.out)
            self._lock = FolderLock(self.out).acquire()
        check_resume(self.out, self.config)

    def close(self) -> None:
        """Release the run directory (`fit` does this when it ends, however it ends)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _start(self) -> None:
        if self.is_main:
            clean_run_dir(self.out)  # temp files and unreferenced epoch files of a killed or disk-full run
        if self.config.resume:
            self._resume()
        elif self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.out / METRICS, "")
        if self.is_main:
            write_json(self.out / "config.json", self.config.to_dict())

    def train_state(self) -> dict:
        return train_state(
            optimizer=self.optimizer, scheduler=self.scheduler, scaler=self.scaler, guard=self.guard,
            initial_norm=self.initial_norm, rollbacks=self.rollbacks,
        )  # fmt: skip

    def _resume(self) -> None:
        ckpt = load_checkpoint(self.out, space=self.space)
        state = restore_train_state(
            ckpt, device=self.device, model=self.model, optimizer=self.optimizer, scheduler=self.scheduler,
            scaler=self.scaler, guard=self.guard,
        )  # fmt: skip
        self.rollbacks, self.initial_norm = state["rollbacks"], state["initial_norm"]
        if self.world_size == 1:
            torch.set_rng_state(state["torch_rng"].cpu())
            if state["cuda_rng"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
        else:
            torch.manual_seed(self.config.seed * 1000 + self.rank + 1 + ckpt.epoch * 7919)
        self.epoch, self.step = ckpt.epoch, ckpt.step
        if self.is_main:
            repair_metrics(self.out / METRICS, ckpt.epoch, ckpt.metrics)
        self._log({"event": "resume", "epoch": ckpt.epoch, "step": ckpt.step, "checkpoint": str(ckpt.path)})

    def _snapshot(self) -> None:
        """In-memory copy of the state at the last epoch boundary: what the collapse guard rolls back to."""
        self._saved = Snapshot(model=self.model, optimizer=self.optimizer, scaler=self.scaler)
        self.guard.snapshot_taken()

    def _roll_back(self) -> None:
        self._saved.restore()
        self.scheduler.lr_scale *= self.config.rollback_lr_factor
        self.rollbacks += 1
        self.guard.snapshot_taken()
        self._log({"event": "rollback", "step": self.step, "lr_scale": self.scheduler.lr_scale})

    def _log(self, record: dict) -> None:
        if self.is_main:
            append_line(self.out / METRICS, json.dumps(record))
            if "event" in record:
                tqdm.write(f"[train] {json.dumps(record)}")

    # ---- training -------------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.config.amp == "none":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.config.amp == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def train_step(self, images: torch.Tensor, targets: torch.Tensor) -> dict:
        """One sandwich step and (unless the guard objects) one optimizer step."""
        cfg = self.config
        self.scheduler.step_update(self.step)
        archs = step_archs(
            self.space, seed=cfg.seed, step=self.step, num_random=cfg.num_random, sandwich=cfg.sandwich
        )
        out = sandwich_backward(
            self.model, images, targets, archs, label_smoothing=cfg.label_smoothing,
            inplace_distill=cfg.inplace_distill, autocast=self._autocast, scale_loss=self.scaler.scale,
        )  # fmt: skip
        if self.grad_sync is not None:
            self.grad_sync(self.model)
        self.scaler.unscale_(self.optimizer)
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip or math.inf))
        loss = out["loss"]
        if self.reduce_scalar is not None:
            loss = self.reduce_scalar(loss)
        guard_loss = loss if (self.world_size == 1 or self.reduce_scalar is not None) else None
        # fp16 overflow is routine: the GradScaler skips that update and lowers its scale by itself
        overflow = self.scaler.is_enabled() and not math.isfinite(grad_norm)
        skip = None if overflow else self.guard.check(guard_loss, grad_norm)
        if skip:
            self._log(
                {"event": "skip", "reason": skip, "step": self.step, "loss": loss, "grad_norm": grad_norm}
            )
            if self.scaler.is_enabled():
                self.scaler.update(self.scaler.get_scale() * self.scaler.get_backoff_factor())
        else:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if skip and self.guard.should_roll_back:
            self._roll_back()
        self.step += 1
        return {**out, "loss": loss, "grad_norm": grad_norm, "skipped": bool(skip) or overflow}

    def train_epoch(self) -> dict:
        self.model.train()
        self.sampler.set_epoch(self.epoch)
        bar = tqdm(
            self.loader,
            desc=f"epoch {self.epoch + 1}/{self.config.epochs}",
            leave=False,
            disable=None if (self.is_main and self.config.progress) else True,  # None: bars only on a TTY
            dynamic_ncols=True,
        )
        sums, count, skipped, images_seen = {"loss": 0.0, "loss_largest": 0.0, "loss_smallest": 0.0}, 0, 0, 0
        start = time.perf_counter()
        for images, targets in bar:
            images = images.to(self.device, non_blocking=True, memory_format=self.memory_format)
            targets = targets.to(self.device, non_blocking=True)
            out = self.train_step(images, targets)
            images_seen += len(images)
            if out["skipped"]:
                skipped += 1
                continue
            count += 1
            sums["loss"] += out["loss"]
            if self.config.sandwich:
                sums["loss_largest"] += out["losses"][0]
                sums["loss_smallest"] += out["losses"][1]
            rate = images_seen * self.world_size / (time.perf_counter() - start)  # equal shards
            bar.set_postfix(
                loss=f"{out['loss']:.3f}",
                lr=f"{self.optimizer.param_groups[0]['lr']:.2e}",
                img_s=f"{rate:.0f}",
            )
        elapsed = time.perf_counter() - start
        means = {k: v / max(1, count) for k, v in sums.items()}
        if not self.config.sandwich:
            means.pop("loss_largest"), means.pop("loss_smallest")
        return {
            **means,
            "lr": self.optimizer.param_groups[0]["lr"],
            "images_per_s": images_seen * self.world_size / elapsed,
            "epoch_time_s": elapsed,
            "device": self.device.type,  # a resumed run may move (--resume --device): cost by where it ran
            "skipped_steps": skipped,
            "rollbacks": self.rollbacks,
        }

    def _eval_set(self, dataset) -> EvalSet:
        """A validation/test split that streams (never held whole) in `eval_batch_size` batches."""
        c = self.config
        pin = self.device.type == "cuda"
        return EvalSet(
            dataset, self.bundle.preprocessing, cache=False, batch_size=c.eval_batch_size,
            workers=c.loader_workers, pin_memory=pin,
        )  # fmt: skip

    def evaluate(self, split: EvalSet) -> dict:
        """Accuracy of the smallest and largest subnets after BN recalibration (on a copy of the supernet)."""
        return evaluate_extremes(
            self.model, self.space, self.calib, split, batch_size=self.config.eval_batch_size
        )

    def checkpoint_meta(self) -> dict:
        b = self.bundle
        return {
            "dataset": b.name,
            "in_chans": b.in_chans,
            "num_classes": b.num_classes,
            "img_size": b.img_size,
            "world_size": self.world_size,
            "preprocessing": b.preprocessing.to_dict(),
        }

    def fit(self) -> dict:
        """Train to `config.epochs` (from the resumed epoch), then report test accuracy (main only).
        The run directory is released when this returns or raises."""
        try:
            return self._fit()
        finally:
            self.close()

    def _epoch_loss(self, metrics: dict) -> float:
        """The epoch's mean loss of one subnet against the labels (NaN when every step was skipped)."""
        if metrics["skipped_steps"] >= len(self.loader):
            return math.nan
        if self.config.sandwich:
            return metrics["loss_largest"]
        return metrics["loss"] / max(1, self.config.num_random)

    def _ranks_total(self, value: float) -> float | None:
        """`value` summed over all ranks (one all-reduce), or None where the ranks cannot be summed."""
        if self.world_size == 1:
            return value
        return self.reduce_scalar(value) * self.world_size if self.reduce_scalar is not None else None

    def _fit(self) -> dict:
        cpu_mark = time.process_time()
        while self.epoch < self.config.epochs:
            metrics = {"epoch": self.epoch + 1, **self.train_epoch()}
            self.epoch += 1
            metrics["step"] = self.step
            check_health(
                self.model, self.initial_norm, loss=self._epoch_loss(metrics),
                num_classes=self.bundle.num_classes, epoch=self.epoch, step=self.step,
                lr=self.config.lr * self.scheduler.lr_scale, momentum=self.config.momentum,
            )  # fmt: skip
            if self.is_main:
                val = self.evaluate(self.val)
                metrics.update(val_acc_smallest=val["smallest"], val_acc_largest=val["largest"])
            # CPU seconds of this epoch (training, validation, the previous epoch's checkpoint) on all ranks
            now = time.process_time()  # this process, all its threads, user + system
            self.epoch_cpu_s, cpu_mark = now - cpu_mark, now  # this rank's own share
            if (cpu := self._ranks_total(self.epoch_cpu_s)) is not None:
                metrics["cpu_time_s"] = cpu
            if self.is_main:
                metrics["checkpoint"] = str(self.out / POINTER)
                save_checkpoint(
                    self.out, self.model, self.config, epoch=self.epoch, step=self.step,
                    train_state=self.train_state(), meta=self.checkpoint_meta(), metrics=metrics,
                )  # fmt: skip
                self._log(metrics)
                tqdm.write(
                    f"epoch {metrics['epoch']}/{self.config.epochs} loss {metrics['loss']:.3f} "
                    f"lr {metrics['lr']:.2e} {metrics['images_per_s']:.0f} img/s "
                    f"val smallest {val['smallest']:.4f} largest {val['largest']:.4f}"
                )
            self._snapshot()
            if self.on_epoch_end is not None:
                self.on_epoch_end(metrics)
        if not self.is_main:
            return {}
        test = self.evaluate(self._eval_set(self.bundle.test))
        final = {
            "final": True,
            "epoch": self.epoch,
            "step": self.step,
            "test_acc_smallest": test["smallest"],
            "test_acc_largest": test["largest"],
        }
        self._log(final)
        return final


def _exists(path: Path) -> bool:
    """`path.exists()`, False where the path cannot even be looked up (e.g. a name too long: the run
    directory's check then says so in one line)."""
    try:
        return path.exists()
    except OSError:
        return False
