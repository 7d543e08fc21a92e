"""ImageFolder trees (ImageNet layout: `train/` and `val/`, a folder per class), read lazily with timm's transforms."""

from __future__ import annotations

import copy
from pathlib import Path

from torch.utils.data import Subset

from ..errors import DataError
from . import contract
from ._bundle import DataBundle, split_indices
from .augment import Augmentation
from .decode import load_rgb


def load_imagefolder(
    data_dir: str | None,
    *,
    seed: int,
    val_fraction: float,
    augment: bool,
    img_size: int,
    augmentation: Augmentation | None = None,
) -> DataBundle:
    """An ImageFolder tree with `train/` and `val/` (ImageNet layout); timm's transforms, val split from train."""
    from torchvision.datasets import ImageFolder

    root = Path(data_dir or "data/imagenet")
    if not (root / "train").is_dir() or not (root / "val").is_dir():
        raise DataError(
            f"imagefolder data not found: {root} needs train/ and val/ class-per-folder trees; pass --data DIR"
        )
    augmentation = augmentation or Augmentation()
    trees = {}
    for split in ("train", "val"):
        try:
            trees[split] = ImageFolder(str(root / split), loader=load_rgb)  # the train tree is scanned once
        except (FileNotFoundError, OSError) as e:  # no class folders, or class folders without images
            raise DataError(
                f"imagefolder {root / split} has no usable class folders ({str(e).splitlines()[0]}); "
                "allowed: one sub-folder of images per class"
            )
    plain = trees["train"]
    _label_by_train_classes(trees["val"], plain, root)
    preprocessing = contract.image_folder(img_size, plain.classes, augmentation.interpolation)
    plain.transform = preprocessing.eval_transform()
    augmented = copy.copy(plain)  # shares the file list; only the transform differs
    if augment:
        augmented.transform = augmentation.train_transform(img_size, preprocessing.mean, preprocessing.std)
    # else: --no-augment trains on exactly the evaluation transform (the model card's)
    trees["val"].transform = plain.transform  # the test split
    train_idx, val_idx = split_indices(len(plain), val_fraction, seed)
    train = Subset(augmented, train_idx.tolist())
    return DataBundle(
        name="imagefolder",
        train=train,
        val=Subset(plain, val_idx.tolist()),
        test=trees["val"],
        calib_source=Subset(plain, train_idx.tolist()),
        in_chans=3,
        num_classes=len(plain.classes),
        img_size=img_size,
        mean=preprocessing.mean,
        std=preprocessing.std,
        preprocessing=preprocessing,
    )


def _label_by_train_classes(val, train, root: Path) -> None:
    """Give the val/ tree train/'s class indices (ImageFolder numbers each tree's own sorted folders, so a
    val/ lacking a class would shift every later label): refuse a val/ class that train/ lacks, and a
    train/ with fewer than 2 classes."""
    if len(train.classes) < 2:
        raise DataError(
            f"imagefolder {root / 'train'} has {len(train.classes)} class folder(s); a classifier needs at least 2"
        )
    extra = sorted(set(val.classes) - set(train.classes))
    if extra:
        more = ", ..." if len(extra) > 5 else ""
        raise DataError(
            f"imagefolder {root / 'val'} has class folders that {root / 'train'} lacks ({', '.join(extra[:5])}"
            f"{more}); allowed: the train/ classes"
        )
    if val.classes != train.classes:
        index = [train.class_to_idx[c] for c in val.classes]
        val.samples = val.imgs = [(path, index[label]) for path, label in val.samples]
        val.targets = [label for _, label in val.samples]
        val.classes, val.class_to_idx = list(train.classes), dict(train.class_to_idx)
