"""Which preprocessing contract each data set has, and the contract of a checkpoint (saved or derived).

Every data set is read as 8-bit images (digits' 0..16 values are scaled to 0..255 once, on load), so one
rule serves them all: timm's eval transform with `scale` 1/255. In-memory sets keep their native size
and are resized straight to a subnet's resolution (`crop_pct` 1, bilinear); image folders follow timm's
ImageNet evaluation (bicubic, `crop_pct` 0.875).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CheckpointError
from ..preprocess import CHANNEL_ORDERS, Preprocessing

FASHION_MNIST_MEAN, FASHION_MNIST_STD = (0.2860,), (0.3530,)
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
DIGITS_LABELS = tuple(str(i) for i in range(10))
FASHION_MNIST_LABELS = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
CIFAR10_LABELS = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SYNTHETIC_LABELS = tuple(f"pattern{i}" for i in range(10))
NATIVE_SIZE = {"digits": 8, "fashion-mnist": 28, "cifar10": 32}
IMAGEFOLDER_CROP_PCT = 0.875


def in_memory(dataset: str, in_chans: int, size: int, labels) -> Preprocessing:
    """The contract of a data set held as same-size 8-bit images: resize straight to the input size."""
    mean, std = {
        "digits": ((0.5,), (0.5,)),
        "fashion-mnist": (FASHION_MNIST_MEAN, FASHION_MNIST_STD),
        "cifar10": (CIFAR10_MEAN, CIFAR10_STD),
        "synthetic": ((0.5,) * 3, (0.25,) * 3),
    }[dataset]
    return Preprocessing(
        input_size=(in_chans, size, size),
        mean=mean,
        std=std,
        label_names=tuple(labels),
        interpolation="bilinear",
        crop_pct=1.0,
        channel_order=CHANNEL_ORDERS[in_chans],
    )


def image_folder(size: int, classes, interpolation: str | None = None) -> Preprocessing:
    """timm's ImageNet evaluation: shorter side to size / 0.875 (bicubic unless `interpolation`), centre crop."""
    return Preprocessing(
        input_size=(3, size, size),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        label_names=tuple(classes),
        interpolation=interpolation or "bicubic",
        crop_pct=IMAGEFOLDER_CROP_PCT,
        channel_order="RGB",
    )


def checkpoint_preprocessing(meta: dict, config, where: str) -> Preprocessing:
    """The contract saved in a checkpoint's metadata, or, for checkpoints from before it was saved, the one
    its data set implies (an image folder's class names are read from its tree; without it: refused)."""
    if isinstance(meta, dict) and "preprocessing" in meta:  # saved: used as it is, or refused
        from ..preprocess import PreprocessingError

        try:
            return Preprocessing.from_dict(meta["preprocessing"])
        except PreprocessingError as e:
            raise CheckpointError(f"{where}: {e}")
    dataset = config.dataset
    if dataset == "digits":
        return in_memory("digits", 1, 8, DIGITS_LABELS)
    if dataset == "fashion-mnist":
        return in_memory("fashion-mnist", 1, 28, FASHION_MNIST_LABELS)
    if dataset == "cifar10":
        return in_memory("cifar10", 3, 32, CIFAR10_LABELS)
    if dataset == "synthetic":
        return in_memory("synthetic", 3, config.img_size or 32, SYNTHETIC_LABELS)
    train = Path(config.data_dir or "data/imagenet") / "train"
    classes = sorted(p.name for p in train.iterdir() if p.is_dir()) if train.is_dir() else []
    if not classes:
        raise CheckpointError(
            f"{where} predates saved preprocessing and its class names cannot be read from {train}; "
            "restore that image folder or retrain"
        )
    size = config.img_size or int(meta.get("img_size", 224))
    return image_folder(size, classes, getattr(config, "interpolation", None))
