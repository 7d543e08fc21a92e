"""`TrainConfig`: every knob of a supernet training run, validated at the edge and stored in checkpoints."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..errors import SupernetError

DATASETS = ("digits", "fashion-mnist", "cifar10", "imagefolder", "synthetic")
OPTIMIZERS = ("sgd", "rmsproptf")
AMP_MODES = ("none", "bf16", "fp16")


class TrainConfigError(SupernetError):
    """A training option outside its allowed values."""


@dataclass
class TrainConfig:
    """Defaults are the `make demo` run: `mbv2-small` on digits, 10 epochs (measured: test accuracy 95.0%
    smallest / 97.8% largest, ~8 min at 1 thread once the shared CPU calmed down; see docs/training.md).
    For longer runs raise `epochs` and slow the decay (e.g. `lr_decay_rate=0.9` for 30 epochs).

    Subnet losses of a sandwich step are *summed* (each subnet's backward adds to the gradients), so
    `lr` is the step size for the sum of `2 + num_random` losses; halve it if you halve the subnets.
    The LR follows `max(lr * lr_decay_rate ** (epoch / lr_decay_epochs), lr_floor * lr)` after a
    linear warmup; `lr_tail=False` drops the floor.
    """

    space: str = "mbv2-small"
    dataset: str = "digits"
    data_dir: str | None = None
    img_size: int | None = None  # None: the space's largest resolution
    val_fraction: float = 0.1
    augment: bool = True
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.1
    warmup_epochs: float = 1.0
    lr_decay_rate: float = 0.7
    lr_decay_epochs: float = 1.0
    lr_floor: float = 0.05
    lr_tail: bool = True
    opt: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 3e-5
    grad_clip: float | None = 5.0
    label_smoothing: float = 0.1
    drop_rate: float = 0.1
    drop_path_rate: float = 0.0
    num_random: int = 2
    sandwich: bool = True
    inplace_distill: bool = True
    zero_gamma: bool = True
    kernel_transform: bool = False
    calib_images: int = 1000
    calib_batch_size: int = 200
    eval_batch_size: int = 500
    seed: int = 0
    out: str = "runs/supernet"
    resume: bool = False
    amp: str = "none"
    device: str = "auto"
    channels_last: bool = True
    workers: int = 0
    spike_factor: float = 5.0
    spike_warmup_steps: int = 20
    max_skips: int = 3
    rollback_lr_factor: float = 0.5
    progress: bool = True

    def validate(self) -> TrainConfig:
        """Raise TrainConfigError naming the first bad option and what is allowed."""

        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise TrainConfigError(msg)

        need(self.dataset in DATASETS, f"dataset {self.dataset!r} is unknown; allowed: {', '.join(DATASETS)}")
        need(self.opt in OPTIMIZERS, f"opt {self.opt!r} is unknown; allowed: {', '.join(OPTIMIZERS)}")
        need(self.amp in AMP_MODES, f"amp {self.amp!r} is unknown; allowed: {', '.join(AMP_MODES)}")
        need(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        need(
            self.batch_size >= 2, f"batch_size must be >= 2 (BatchNorm needs 2 images), got {self.batch_size}"
        )
        need(self.lr > 0, f"lr must be > 0, got {self.lr}")
        need(self.warmup_epochs >= 0, f"warmup_epochs must be >= 0, got {self.warmup_epochs}")
        need(0 < self.lr_decay_rate <= 1, f"lr_decay_rate must be in (0, 1], got {self.lr_decay_rate}")
        need(self.lr_decay_epochs > 0, f"lr_decay_epochs must be > 0, got {self.lr_decay_epochs}")
        need(0 <= self.lr_floor <= 1, f"lr_floor must be in [0, 1], got {self.lr_floor}")
        need(0 < self.val_fraction < 1, f"val_fraction must be in (0, 1), got {self.val_fraction}")
        need(self.num_random >= 0, f"num_random must be >= 0, got {self.num_random}")
        need(self.sandwich or self.num_random >= 1, "without the sandwich rule num_random must be >= 1")
        need(
            self.sandwich or not self.inplace_distill,
            "inplace_distill needs the sandwich rule (the largest subnet is the teacher); turn one off or both on",
        )
        need(0 <= self.label_smoothing < 1, f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        need(0 <= self.drop_rate < 1, f"drop_rate must be in [0, 1), got {self.drop_rate}")
        need(0 <= self.drop_path_rate < 1, f"drop_path_rate must be in [0, 1), got {self.drop_path_rate}")
        need(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        need(
            self.grad_clip is None or self.grad_clip > 0,
            f"grad_clip must be > 0 or null, got {self.grad_clip}",
        )
        need(self.calib_images >= 2, f"calib_images must be >= 2, got {self.calib_images}")
        need(self.calib_batch_size >= 2, f"calib_batch_size must be >= 2, got {self.calib_batch_size}")
        need(self.img_size is None or self.img_size >= 8, f"img_size must be >= 8, got {self.img_size}")
        need(self.spike_factor > 1, f"spike_factor must be > 1, got {self.spike_factor}")
        need(self.max_skips >= 1, f"max_skips must be >= 1, got {self.max_skips}")
        need(
            0 < self.rollback_lr_factor <= 1,
            f"rollback_lr_factor must be in (0, 1], got {self.rollback_lr_factor}",
        )
        need(self.workers >= 0, f"workers must be >= 0, got {self.workers}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise TrainConfigError(
                f"unknown training options {unknown}; allowed: {', '.join(sorted(allowed))}"
            )
        return cls(**data).validate()

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        p = Path(path)
        try:
            return cls.from_dict(json.loads(p.read_text()))
        except FileNotFoundError:
            raise TrainConfigError(f"training config file not found: {p}")
        except json.JSONDecodeError as e:
            raise TrainConfigError(f"training config {p} is not valid JSON: {e}")
