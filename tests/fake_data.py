"""Small data sets on disk in the formats the readers expect (tests never download)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray) -> None:
    """One gzip IDX file of unsigned bytes, as Fashion-MNIST ships them."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_fashion_mnist(
    folder: Path,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
) -> Path:
    """The four Fashion-MNIST files in `folder` from (images N x 28 x 28, labels N) pairs; returns `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in (("train", train), ("t10k", test)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels)
    return folder


def random_fashion_mnist(folder: Path, n_train: int = 200, n_test: int = 40, seed: int = 0) -> Path:
    """Random 28x28 images with class-dependent brightness (learnable, so losses move), labels cycling 0..9."""
    rng = np.random.default_rng(seed)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n) % 10
        images = rng.integers(0, 100, (n, 28, 28)) + 15 * labels[:, None, None]
        return images, labels

    return write_fashion_mnist(folder, split(n_train), split(n_test))
