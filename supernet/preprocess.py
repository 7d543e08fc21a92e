"""The one preprocessing contract, from training to the shipped file (timm's `pretrained_cfg` names).

A `Preprocessing` says how a decoded image becomes the model's input: convert it to `channel_order`
(`L` or `RGB`), resize its shorter side to `floor(size / crop_pct)` pixels with `interpolation`, take the
centre `size` x `size` crop, multiply the pixel values by `scale`, subtract `mean` and divide by `std` per
channel (NCHW float32). It is saved with every checkpoint, builds every evaluation's transform
(`eval_transform`: timm's own `create_transform`, so `resolve_data_config(model=subnet)` gives the same
one), and is written into `card.json` (numbers, no prose), into the ONNX file's `metadata_props` and into
every extracted model's `pretrained_cfg`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace

from .errors import SupernetError

FORMAT = "supernet-preprocessing/1"
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
CHANNEL_ORDERS = {1: "L", 3: "RGB"}
SCALE = 1 / 255  # timm's ToTensor: 8-bit pixels to [0, 1]


class PreprocessingError(SupernetError):
    """A preprocessing description that is incomplete or outside what the contract allows."""


@dataclass(frozen=True)
class Preprocessing:
    """How an image file becomes the input of a model at `input_size` = (channels, height, width)."""

    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    label_names: tuple[str, ...]
    interpolation: str = "bilinear"
    crop_pct: float = 1.0
    crop_mode: str = "center"
    scale: float = SCALE
    channel_order: str = "RGB"

    def __post_init__(self) -> None:
        self._check_types()
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        object.__setattr__(self, "label_names", tuple(str(v) for v in self.label_names))
        object.__setattr__(self, "crop_pct", float(self.crop_pct))
        object.__setattr__(self, "scale", float(self.scale))
        self.validate()

    def _check_types(self) -> None:
        """What a saved contract must hold before it is converted (int('x'), a string as label names)."""

        def number(v) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool)

        def wrong(name: str, kind: str) -> PreprocessingError:
            return PreprocessingError(f"preprocessing: {name} must be {kind}, got {getattr(self, name)!r}")

        for name, ok, kind in (
            ("input_size", lambda v: number(v) and isinstance(v, int), "integers"),
            ("mean", number, "numbers"),
            ("std", number, "numbers"),
            ("label_names", lambda v: isinstance(v, str), "strings"),
        ):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)) or not all(map(ok, value)):
                raise wrong(name, f"a list of {kind}")
        for name in ("crop_pct", "scale"):
            if not number(getattr(self, name)):
                raise wrong(name, "a number")
        for name in ("interpolation", "crop_mode", "channel_order"):
            if not isinstance(getattr(self, name), str):
                raise wrong(name, "a string")

    def validate(self) -> Preprocessing:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise PreprocessingError(f"preprocessing: {msg}")

        need(
            len(self.input_size) == 3, f"input_size must be (channels, height, width), got {self.input_size}"
        )
        chans, h, w = self.input_size
        need(1 <= chans <= 1024, f"channels must be 1..1024, got {chans}")
        order = CHANNEL_ORDERS.get(chans, "planar")  # other channel counts are not PIL images
        need(h == w and 1 <= h <= 4096, f"input_size must be square, 1..4096 px, got {h}x{w}")
        need(
            self.channel_order == order,
            f"{chans} channels need channel_order {order!r}",
        )
        need(len(self.mean) == chans and len(self.std) == chans, f"mean and std need {chans} values each")
        need(all(math.isfinite(m) for m in self.mean), "mean must be finite")
        need(all(math.isfinite(s) and s > 0 for s in self.std), "std must be finite and > 0")
        need(
            self.interpolation in INTERPOLATIONS, f"interpolation must be one of {', '.join(INTERPOLATIONS)}"
        )
        need(0 < self.crop_pct <= 1, f"crop_pct must be in (0, 1], got {self.crop_pct}")
        need(self.crop_mode == "center", f"crop_mode must be 'center', got {self.crop_mode!r}")
        need(
            math.isclose(self.scale, SCALE, rel_tol=1e-12),
            f"scale must be 1/255 (8-bit pixels), got {self.scale}",
        )
        need(len(self.label_names) >= 1, "label_names must name every class, in index order")
        return self

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def in_chans(self) -> int:
        return self.input_size[0]

    @property
    def size(self) -> int:
        return self.input_size[-1]

    @property
    def resize_size(self) -> int:
        """The shorter side after resizing, before the centre crop (timm: floor(size / crop_pct))."""
        return math.floor(self.size / self.crop_pct)

    def at(self, resolution: int) -> Preprocessing:
        """The same contract for a subnet of another input resolution."""
        return replace(self, input_size=(self.in_chans, resolution, resolution))

    @classmethod
    def default(cls, in_chans: int, resolution: int, num_classes: int) -> Preprocessing:
        """A contract for a model without a training run: ImageNet mean/std (0.5 for one channel),
        bilinear resize straight to `resolution`, classes named by index."""
        one = in_chans == 1
        return cls(
            input_size=(in_chans, resolution, resolution),
            mean=(0.5,) if one else (0.485, 0.456, 0.406),
            std=(0.5,) if one else (0.229, 0.224, 0.225),
            label_names=tuple(str(i) for i in range(num_classes)),
            channel_order=CHANNEL_ORDERS.get(in_chans, "planar"),
        )

    # ---- the transform ------------------------------------------------------------------------
    def eval_transform(self):
        """PIL image (already in `channel_order`) -> normalised CHW float tensor: timm's eval transform."""
        from timm.data import create_transform

        return create_transform(**self.data_config(), is_training=False)

    def data_config(self) -> dict:
        """timm's data config (what `resolve_data_config` returns for a model carrying this contract)."""
        return {
            "input_size": self.input_size,
            "interpolation": self.interpolation,
            "mean": self.mean,
            "std": self.std,
            "crop_pct": self.crop_pct,
            "crop_mode": self.crop_mode,
        }

    def pretrained_cfg(self, architecture: str = "supernet_subnet") -> dict:
        """timm's `pretrained_cfg` for a model using this contract."""
        return {
            "architecture": architecture,
            **self.data_config(),
            "fixed_input_size": True,
            "num_classes": self.num_classes,
            "label_names": list(self.label_names),
            "first_conv": "conv_stem",
            "classifier": "classifier",
        }

    @classmethod
    def from_pretrained_cfg(cls, cfg: dict) -> Preprocessing:
        try:
            chans = int(cfg["input_size"][0])
            return cls(  # lists as they are: a string given for one is refused, not split into letters
                input_size=cfg["input_size"],
                mean=cfg["mean"],
                std=cfg["std"],
                label_names=cfg["label_names"],
                interpolation=cfg["interpolation"],
                crop_pct=cfg["crop_pct"],
                crop_mode=cfg.get("crop_mode", "center"),
                channel_order=CHANNEL_ORDERS.get(chans, "planar"),
            )
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise PreprocessingError(f"pretrained_cfg lacks a usable preprocessing field ({e})")

    # ---- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        return {"format": FORMAT, **{k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> Preprocessing:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise PreprocessingError(f"not a preprocessing description (expected format {FORMAT})")
        body = {k: v for k, v in data.items() if k != "format"}
        try:
            return cls(**body)
        except TypeError as e:  # a missing or unknown field
            raise PreprocessingError(f"preprocessing fields are wrong ({e})")

    def card(self) -> dict:
        """The card's section: numbers and enumerated names only, enough to reproduce the input exactly."""
        return {
            "format": FORMAT,
            "channel_order": self.channel_order,
            "resize_shorter_side_to": self.resize_size,
            "interpolation": self.interpolation,
            "center_crop": [self.size, self.size],
            "crop_pct": self.crop_pct,
            "crop_mode": self.crop_mode,
            "scale": self.scale,
            "mean": list(self.mean),
            "std": list(self.std),
            "layout": "NCHW",
            "dtype": "float32",
            "input_size": list(self.input_size),
            "label_names": list(self.label_names),
        }

    def onnx_metadata(self) -> dict[str, str]:
        """`metadata_props` entries of the shipped ONNX file."""
        return {
            "preprocessing": json.dumps(self.to_dict()),
            "label_names": json.dumps(list(self.label_names)),
        }
