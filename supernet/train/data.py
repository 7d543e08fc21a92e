"""Data sets for supernet training, held out the same way every time: train / seeded val split / test.

Small sets (digits, Fashion-MNIST, CIFAR-10, synthetic) live in memory as 8-bit images at their native
size; training batches reach a subnet through `resize_to`. Every evaluation instead decodes each image
with the bundle's `Preprocessing` at the subnet's resolution (`eval_view`), the exact rule the shipped
model's card states. Nothing is downloaded: a missing set is a `DataError` saying where we looked.
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from ..errors import DataError
from . import contract
from ._bundle import DataBundle, split_indices
from ._imagefolder import load_imagefolder
from .augment import Augmentation
from .contract import CIFAR10_MEAN, CIFAR10_STD, FASHION_MNIST_MEAN, FASHION_MNIST_STD

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


class TensorImageDataset(Dataset):
    """In-memory images (NCHW, uint8 or float in [0, 1]) yielding `(normalised float CHW, int label)`.

    Training augmentation is a random shift (zero-padded crop) and, where `flip`, a horizontal flip.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        *,
        augment: bool = False,
        flip: bool = False,
    ) -> None:
        self.images, self.labels = images, labels.long()
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)
        self.augment, self.flip = augment, flip
        self.pad = max(1, images.shape[-1] // 8)

    def __len__(self) -> int:
        return len(self.labels)

    def with_augment(self, augment: bool) -> TensorImageDataset:
        """The same tensors with augmentation switched (no copy)."""
        return TensorImageDataset(
            self.images,
            self.labels,
            tuple(self.mean.flatten().tolist()),
            tuple(self.std.flatten().tolist()),
            augment=augment,
            flip=self.flip,
        )

    def image(self, index: int):
        """Image `index` as the decoded 8-bit PIL image a file of it would give (mode L or RGB)."""
        from PIL import Image

        x = self.images[index]
        if x.dtype != torch.uint8:
            raise TypeError("only 8-bit images have a file form")
        array = x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()
        return Image.fromarray(array, mode="L" if x.shape[0] == 1 else "RGB")

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = self.images[index]
        x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
        if self.augment:
            h, w = x.shape[-2:]
            x = torch.nn.functional.pad(x, (self.pad,) * 4)
            top, left = torch.randint(0, 2 * self.pad + 1, (2,)).tolist()
            x = x[:, top : top + h, left : left + w]
            if self.flip and torch.rand(()) < 0.5:
                x = x.flip(-1)
        return (x - self.mean) / self.std, int(self.labels[index])


def _bundle(name, *, train, test, mean, std, num_classes, seed, val_fraction, augment, flip, labels):
    """A bundle from in-memory `train` and `test` (images, labels) pairs; val is a seeded part of train."""
    (train_x, train_y), (test_x, test_y) = train, test
    train_idx, val_idx = split_indices(len(train_y), val_fraction, seed)
    full = TensorImageDataset(train_x, train_y, mean, std)
    train_set = TensorImageDataset(
        train_x[train_idx], train_y[train_idx], mean, std, augment=augment, flip=flip
    )
    return DataBundle(
        name=name,
        train=train_set,
        val=Subset(full, val_idx.tolist()),
        test=TensorImageDataset(test_x, test_y, mean, std),
        calib_source=train_set.with_augment(False),
        in_chans=train_x.shape[1],
        num_classes=num_classes,
        img_size=train_x.shape[-1],
        mean=mean,
        std=std,
        preprocessing=contract.in_memory(name, train_x.shape[1], train_x.shape[-1], labels),
    )


def _digits(seed: int, val_fraction: float, augment: bool) -> DataBundle:
    """scikit-learn's bundled 8x8 digits (1,797 images); a fixed 20% test split (it has none of its own)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    # 0..16 values as 8-bit pixels (what a PNG of a digit holds), so every set shares one contract
    x = torch.from_numpy(np.round(digits.images * (255 / 16)).astype(np.uint8)).unsqueeze(1)
    y = torch.from_numpy(digits.target)
    train_idx, test_idx = split_indices(len(y), 0.2, 12345)
    return _bundle(
        "digits",
        train=(x[train_idx], y[train_idx]),
        test=(x[test_idx], y[test_idx]),
        mean=(0.5,),
        std=(0.5,),
        num_classes=10,
        seed=seed,
        val_fraction=val_fraction,
        augment=augment,
        flip=False,
        labels=contract.DIGITS_LABELS,
    )


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _fashion_mnist(data_dir: str | None, seed: int, val_fraction: float, augment: bool) -> DataBundle:
    root = Path(data_dir or FASHION_MNIST_DIR)
    names = [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    missing = [n for n in names if not (root / n).is_file()]
    if missing:
        raise DataError(
            f"Fashion-MNIST not found in {root} (missing {', '.join(missing)}); install it with "
            "`apt-get install dataset-fashion-mnist` or pass --data DIR holding the four gzip IDX files"
        )
    try:
        arrays = [torch.from_numpy(_read_idx(root / n).copy()) for n in names]
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"Fashion-MNIST files in {root} are unreadable ({e}); reinstall them")
    train_x, train_y, test_x, test_y = arrays
    return _bundle(
        "fashion-mnist",
        train=(train_x.unsqueeze(1), train_y),
        test=(test_x.unsqueeze(1), test_y),
        mean=FASHION_MNIST_MEAN,
        std=FASHION_MNIST_STD,
        num_classes=10,
        seed=seed,
        val_fraction=val_fraction,
        augment=augment,
        flip=True,
        labels=contract.FASHION_MNIST_LABELS,
    )


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """CIFAR-10's official files are pickles of numpy arrays: allow exactly that, never arbitrary code."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise DataError(
                f"CIFAR-10 file holds a disallowed object {module}.{name}; it is not the official archive"
            )
        return super().find_class(module, name)


def _cifar10(data_dir: str | None, seed: int, val_fraction: float, augment: bool) -> DataBundle:
    """torchvision's on-disk format (`cifar-10-batches-py/`), read directly; never downloaded."""
    root = Path(data_dir or "data")
    batches = root / "cifar-10-batches-py" if (root / "cifar-10-batches-py").is_dir() else root
    files = [batches / f"data_batch_{i}" for i in range(1, 6)] + [batches / "test_batch"]
    if not all(f.is_file() for f in files):
        raise DataError(
            f"CIFAR-10 not found in {batches} (need data_batch_1..5 and test_batch); download "
            "cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, untar it and pass --data DIR"
        )
    labels = contract.CIFAR10_LABELS
    meta = batches / "batches.meta"
    if meta.is_file():  # the class names, in index order
        with open(meta, "rb") as fh:
            names = _NumpyOnlyUnpickler(fh, encoding="latin1").load().get("label_names")
        labels = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names) if names else labels
    xs, ys = [], []
    for f in files:
        with open(f, "rb") as fh:
            d = _NumpyOnlyUnpickler(fh, encoding="latin1").load()
        xs.append(torch.from_numpy(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)))
        ys.append(torch.tensor(d["labels"]))
    return _bundle(
        "cifar10",
        train=(torch.cat(xs[:5]), torch.cat(ys[:5])),
        test=(xs[5], ys[5]),
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        num_classes=10,
        seed=seed,
        val_fraction=val_fraction,
        augment=augment,
        flip=True,
        labels=labels,
    )


def _synthetic(seed: int, val_fraction: float, augment: bool, img_size: int | None) -> DataBundle:
    """Learnable noise: each class is a fixed random smooth pattern plus per-image noise (for tests)."""
    size = img_size or 32
    gen = torch.Generator().manual_seed(1234)
    protos = torch.nn.functional.interpolate(
        torch.rand(10, 3, 4, 4, generator=gen), size=(size, size), mode="bilinear", align_corners=False
    )

    def make(n: int, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(1234 + offset)
        y = torch.arange(n) % 10
        x = (0.7 * protos[y] + 0.3 * torch.rand(n, 3, size, size, generator=g)).clamp(0, 1)
        return (x * 255).round().to(torch.uint8), y

    (train_x, train_y), (test_x, test_y) = make(320, 1), make(100, 2)
    return _bundle(
        "synthetic",
        train=(train_x, train_y),
        test=(test_x, test_y),
        mean=(0.5,) * 3,
        std=(0.25,) * 3,
        num_classes=10,
        seed=seed,
        val_fraction=val_fraction,
        augment=augment,
        flip=False,
        labels=contract.SYNTHETIC_LABELS,
    )


def load_data(
    name: str,
    data_dir: str | None = None,
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    augment: bool = True,
    img_size: int | None = None,
    augmentation: Augmentation | None = None,
) -> DataBundle:
    """Load `name` (digits, fashion-mnist, cifar10, imagefolder, synthetic) with a `seed`-fixed val split.

    `img_size` matters only for imagefolder (crop size; default 224) and synthetic (default 32); the
    in-memory sets keep their native size. `augmentation` (timm's options) applies to imagefolder only.
    """
    if name == "digits":
        return _digits(seed, val_fraction, augment)
    if name == "fashion-mnist":
        return _fashion_mnist(data_dir, seed, val_fraction, augment)
    if name == "cifar10":
        return _cifar10(data_dir, seed, val_fraction, augment)
    if name == "synthetic":
        return _synthetic(seed, val_fraction, augment, img_size)
    if name == "imagefolder":
        return load_imagefolder(
            data_dir,
            seed=seed,
            val_fraction=val_fraction,
            augment=augment,
            img_size=img_size or 224,
            augmentation=augmentation,
        )
    raise DataError(
        f"unknown dataset {name!r}; allowed: digits, fashion-mnist, cifar10, imagefolder, synthetic"
    )


def stack(dataset: Dataset, indices: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """All (or the chosen) samples of a data set as one image tensor and one label tensor."""
    indices = range(len(dataset)) if indices is None else indices
    samples = [dataset[i] for i in indices]
    return torch.stack([s[0] for s in samples]), torch.tensor([s[1] for s in samples])


def calibration_images(bundle: DataBundle, num_images: int, seed: int = 0) -> torch.Tensor:
    """A fixed, seeded subset of the train split (no augmentation), loaded once and reused for every subnet."""
    n = len(bundle.calib_source)
    num = min(num_images, n)
    indices = np.sort(np.random.default_rng(seed).permutation(n)[:num]).tolist()
    return stack(bundle.calib_source, indices)[0]
