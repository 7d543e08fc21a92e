"""What every data set loader returns: a `DataBundle`, with its val split drawn the same way every time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch.utils.data import Dataset

from ..preprocess import Preprocessing


@dataclass
class DataBundle:
    """Train / val / test splits and what a model needs to know about the inputs.

    `calib_source` is the train split without augmentation: BN calibration draws its fixed subset from it.
    """

    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    calib_source: Dataset
    in_chans: int
    num_classes: int
    img_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    preprocessing: Preprocessing  # at the native (or --img-size) resolution; `.at(r)` for a subnet's


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, val) indices of `n` samples: a seeded `val_fraction` (at least one) is val."""
    perm = np.random.default_rng(seed).permutation(n)
    num_val = max(1, round(n * val_fraction))
    return np.sort(perm[num_val:]), np.sort(perm[:num_val])
