"""Training augmentation of image folders, in timm's names and with timm's defaults (`create_transform`).

| TrainConfig / flag | timm `create_transform` argument | default |
|---|---|---|
| `scale` / `--scale MIN MAX` | `scale` (RandomResizedCrop area range) | 0.08 1.0 |
| `ratio` / `--ratio MIN MAX` | `ratio` (RandomResizedCrop aspect range) | 0.75 1.333 |
| `hflip` / `--hflip P` | `hflip` (horizontal flip probability) | 0.5 |
| `color_jitter` / `--color-jitter F` | `color_jitter` (off when an auto-augment policy is on, as in timm) | 0.4 |
| `aa` / `--aa POLICY` | `auto_augment` (`rand-m9-mstd0.5-inc1`, `augmix-m5-w4-d2`, `original`, `v0`, `3a`, ...) | none |
| `interpolation` / `--interpolation` | `interpolation` of the crop (training) and of the resize in the preprocessing contract (evaluation, the model card) | none: bilinear crop, bicubic evaluation (timm's ImageNet eval) |

The in-memory sets (digits, Fashion-MNIST, CIFAR-10, synthetic) keep their own random shift and flip;
these options apply to `--dataset imagefolder` only, and giving one for another data set is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..errors import SupernetError

INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


class AugmentationError(SupernetError):
    """An augmentation option outside its allowed values."""


@dataclass(frozen=True)
class Augmentation:
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip: float = 0.5
    color_jitter: float = 0.4
    aa: str | None = None
    interpolation: str | None = None  # None: bilinear crop in training, the data set's own for evaluation

    @classmethod
    def from_config(cls, config) -> Augmentation:
        """The augmentation fields of a TrainConfig (same names)."""
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls)})

    def changed(self) -> list[str]:
        """Names of the options that differ from timm's defaults."""
        default = Augmentation()
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)]

    def validate(self) -> Augmentation:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise AugmentationError(msg)

        for name, (lo, hi), top in (("scale", self.scale, 1.0), ("ratio", self.ratio, None)):
            need(
                0 < lo <= hi and (top is None or hi <= top),
                f"--{name} needs 0 < MIN <= MAX{' <= 1' if top else ''}, got {lo:g} {hi:g}",
            )
        need(
            len(self.scale) == 2 and len(self.ratio) == 2,
            f"--scale and --ratio take two numbers (MIN MAX), got {list(self.scale)} and {list(self.ratio)}",
        )
        need(0 <= self.hflip <= 1, f"--hflip is a probability in [0, 1], got {self.hflip:g}")
        need(self.color_jitter >= 0, f"--color-jitter must be >= 0, got {self.color_jitter:g}")
        need(
            self.interpolation is None or self.interpolation in INTERPOLATIONS,
            f"--interpolation {self.interpolation!r} is unknown; allowed: {', '.join(INTERPOLATIONS)}",
        )
        if self.aa is not None:
            try:
                self.train_transform(32, (0.5,) * 3, (0.5,) * 3)
            except (AssertionError, ValueError, KeyError, IndexError, TypeError) as e:
                raise AugmentationError(
                    f"--aa {self.aa!r} is not a timm auto-augment policy ({e or type(e).__name__}); allowed: "
                    "rand-m9-mstd0.5-inc1 (RandAugment), augmix-m5-w4-d2, original, originalr, "
                    "v0, v0r, 3a"
                ) from None
        return self

    def train_transform(self, img_size: int, mean: tuple[float, ...], std: tuple[float, ...]):
        from timm.data import create_transform

        return create_transform(
            img_size,
            is_training=True,
            scale=tuple(self.scale),
            ratio=tuple(self.ratio),
            hflip=self.hflip,
            color_jitter=self.color_jitter,
            auto_augment=self.aa,
            interpolation=self.interpolation or "bilinear",
            mean=mean,
            std=std,
        )
