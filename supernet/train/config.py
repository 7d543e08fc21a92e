"""`TrainConfig`: every knob of a supernet training run, validated at the edge and stored in checkpoints."""

from __future__ import annotations

import functools
import json
import math
import re
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..checks import MAX_SEED, check_float, check_int
from ..errors import SupernetError
from ..jsonfile import check_fields, describe, json_name, type_ok

DATASETS = ("digits", "fashion-mnist", "cifar10", "imagefolder", "synthetic")
OPTIMIZERS = ("sgd", "rmsproptf")
AMP_MODES = ("none", "bf16", "fp16")
DEVICE_PATTERN = r"auto|cpu|cuda(:\d+)?"
MAX_IMG_SIZE = 1024  # pixels per side; larger in-memory sets would need tens of GB
MAX_LR = 1000.0  # far above any useful learning rate; keeps every step finite in float32


class TrainConfigError(SupernetError):
    """A training option outside its allowed values."""


@dataclass(frozen=True)
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
    # image folders' training augmentation, timm's names and defaults (supernet/train/augment.py)
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip: float = 0.5
    color_jitter: float = 0.4
    aa: str | None = None
    interpolation: str | None = None  # None: the data set's own (image folders: bicubic eval, bilinear crop)
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
    inplace_distill: bool = False  # on: it scored lower in our full-length runs (docs/training.md)
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
    loader_workers: int = 0
    spike_factor: float = 5.0
    spike_warmup_steps: int = 20
    max_skips: int = 3
    rollback_lr_factor: float = 0.5
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("scale", "ratio"):  # JSON and YAML give lists
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))

    def validate(self) -> TrainConfig:
        """Raise TrainConfigError naming the first bad option (wrong type, not finite, out of range) and
        what is allowed."""
        hints = _hints()
        for f in fields(self):
            value = getattr(self, f.name)
            finite = value if not isinstance(value, float) or math.isfinite(value) else 0.0  # range: below
            if not type_ok(finite, hints[f.name]):
                raise TrainConfigError(f"{f.name} is {json_name(value)}; allowed: {describe(hints[f.name])}")

        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise TrainConfigError(msg)

        def num(name: str, lo=None, hi=None, lo_open=False, hi_open=False) -> None:
            value = getattr(self, name)
            if hints[name] is int or hints[name] == (int | None):
                check_int(name, value, lo=lo, hi=hi, error=TrainConfigError)
            elif value is not None:
                check_float(
                    name, value, lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open, error=TrainConfigError
                )

        need(self.dataset in DATASETS, f"dataset {self.dataset!r} is unknown; allowed: {', '.join(DATASETS)}")
        need(
            self.data_dir is None or self.dataset not in ("digits", "synthetic"),
            f"--data applies to --dataset fashion-mnist, cifar10 or imagefolder; {self.dataset} "
            f"{'is embedded in scikit-learn' if self.dataset == 'digits' else 'is generated'} and reads no folder",
        )
        need(
            self.img_size is None or self.dataset in ("imagefolder", "synthetic"),
            f"--img-size applies to --dataset imagefolder or synthetic; {self.dataset} keeps its native size "
            "(each subnet resizes it to its own resolution)",
        )
        need(self.opt in OPTIMIZERS, f"opt {self.opt!r} is unknown; allowed: {', '.join(OPTIMIZERS)}")
        need(self.amp in AMP_MODES, f"amp {self.amp!r} is unknown; allowed: {', '.join(AMP_MODES)}")
        need(
            re.fullmatch(DEVICE_PATTERN, self.device) is not None,
            f"device {self.device!r} is unknown; allowed: auto, cpu, cuda, cuda:N",
        )
        need(bool(self.space.strip()), "space must name a preset or a .yaml/.json file")
        need(bool(self.out.strip()), "out must name a run directory")
        num("epochs", 1, 1_000_000)
        if self.batch_size < 2:
            raise TrainConfigError(
                f"batch_size must be >= 2 (BatchNorm needs 2 images), got {self.batch_size}"
            )
        num("batch_size", 2, 1 << 20)
        num("lr", 0, MAX_LR, lo_open=True)  # bounded: torch's float32 step overflows far below 1e308
        num("warmup_epochs", 0, 1_000_000)
        num("lr_decay_rate", 0, 1, lo_open=True)
        num("lr_decay_epochs", 0, 1_000_000, lo_open=True)
        num("lr_floor", 0, 1)
        num("val_fraction", 0, 1, lo_open=True, hi_open=True)
        num("momentum", 0, 1, hi_open=True)
        num("weight_decay", 0, 1)
        num("grad_clip", 0, None, lo_open=True)
        num("label_smoothing", 0, 1, hi_open=True)
        num("drop_rate", 0, 1, hi_open=True)
        num("drop_path_rate", 0, 1, hi_open=True)
        num("num_random", 0, 64)
        need(self.sandwich or self.num_random >= 1, "without the sandwich rule num_random must be >= 1")
        need(
            self.sandwich or not self.inplace_distill,
            "inplace_distill needs the sandwich rule (the largest subnet is the teacher); turn one off or both on",
        )
        num("calib_images", 2, 10_000_000)
        num("calib_batch_size", 2, 1 << 20)
        num("eval_batch_size", 1, 1 << 20)
        if self.img_size is not None:
            num("img_size", 8, MAX_IMG_SIZE)
        num("seed", 0, MAX_SEED)
        num("loader_workers", 0, 256)
        num("spike_factor", 1, None, lo_open=True)
        num("spike_warmup_steps", 0, 1_000_000)
        num("max_skips", 1, 1_000_000)
        num("rollback_lr_factor", 0, 1, lo_open=True)
        from .augment import Augmentation, AugmentationError

        try:
            augmentation = Augmentation.from_config(self).validate()
        except AugmentationError as e:
            raise TrainConfigError(str(e)) from None
        changed = augmentation.changed()
        need(
            self.dataset == "imagefolder" or not changed,
            f"--{changed[0].replace('_', '-') if changed else ''} applies to --dataset imagefolder only; "
            f"{self.dataset} uses its own random shift{' and flip' if self.dataset in ('fashion-mnist', 'cifar10') else ''}",
        )
        trained = [name for name in changed if name != "interpolation"]  # interpolation is also evaluation's
        need(
            self.augment or not trained,
            f"--{trained[0].replace('_', '-') if trained else ''} is a training augmentation and --no-augment "
            "turns augmentation off; drop one of them",
        )
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict, where: str | None = None) -> TrainConfig:
        """A validated config from a dict (a file's content: `where` names it in errors)."""
        if isinstance(data, dict) and "workers" in data:  # loader_workers' earlier name, in older checkpoints
            data = {"loader_workers": data["workers"], **{k: v for k, v in data.items() if k != "workers"}}
        check_fields(
            data,
            dict.fromkeys(_hints(), typing.Any),
            where or "training config",
            TrainConfigError,
            optional=set(_hints()),
        )
        try:
            return cls(**data).validate()
        except TrainConfigError as e:
            raise TrainConfigError(f"{where}: {e}" if where else str(e))

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """A YAML (.yaml/.yml) or JSON training config file."""
        from ..cli_common import read_config_file

        data = read_config_file(path, "training config", TrainConfigError)
        return cls.from_dict(data, where=f"training config {path}")


@functools.cache
def _hints() -> dict:
    return typing.get_type_hints(TrainConfig)
