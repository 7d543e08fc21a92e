"""`EvalSet`: a split as every evaluation sees it, at whatever resolution a subnet has.

Training's validation, BN calibration, extract's search scores and the shipped model's card all take
their images from an `EvalSet`, which decodes each image with the run's `Preprocessing` (timm's eval
transform at the subnet's resolution). So the accuracy on a card is the accuracy of a user who follows
the card with the image files.

Validation and test sets stream (`cache=False`): `batches(resolution)` decodes them batch by batch
through a DataLoader (`workers` processes, persistent per resolution), so memory does not grow with the
data set. Only the small fixed calibration set caches its prepared tensors per resolution (BigNAS). The
batches are exactly the slices of the stacked tensors, so streamed and cached evaluation agree exactly.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from ..preprocess import Preprocessing
from .loader import make_loader
from .views import EvalView


class EvalSet:
    def __init__(
        self,
        dataset: Dataset,
        preprocessing: Preprocessing,
        indices: list[int] | None = None,
        *,
        cache: bool = True,
        batch_size: int = 500,
        workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        self.dataset = dataset if indices is None else Subset(dataset, list(indices))
        self.preprocessing = preprocessing
        self.cache = cache
        self.batch_size, self.workers, self.pin_memory = batch_size, workers, pin_memory
        self._prepared: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._loaders: dict[int, DataLoader] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def view(self, resolution: int) -> EvalView:
        """The data set of (prepared image, label) pairs at `resolution` (for a DataLoader)."""
        return EvalView(self.dataset, self.preprocessing.at(resolution))

    def at(self, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Every image prepared for a subnet of `resolution`, and the labels."""
        if resolution in self._prepared:
            return self._prepared[resolution]
        loader = make_loader(self.view(resolution), self.batch_size, self.workers, persistent=False)
        images, labels = zip(*loader) if len(self) else ((torch.zeros(0),), (torch.zeros(0),))
        prepared = torch.cat(images), torch.cat(labels).long()
        if self.cache:
            self._prepared[resolution] = prepared
        return prepared

    def batches(self, resolution: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(images, labels) batches of `batch_size` at `resolution`, in order, decoded as they are read
        (from the cache when this set caches and already holds that resolution)."""
        if resolution in self._prepared:
            images, labels = self._prepared[resolution]
            yield from zip(images.split(self.batch_size), labels.split(self.batch_size))
            return
        if resolution not in self._loaders:
            self._loaders[resolution] = make_loader(
                self.view(resolution), self.batch_size, self.workers, self.pin_memory
            )
        for images, labels in self._loaders[resolution]:
            yield images, labels.long()

    def images(self, resolution: int) -> torch.Tensor:
        return self.at(resolution)[0]

    def head(self, n: int) -> EvalSet:
        """The first `n` images (e.g. for a parity check)."""
        indices = list(range(min(n, len(self))))
        return EvalSet(
            self.dataset,
            self.preprocessing,
            indices,
            cache=self.cache,
            batch_size=self.batch_size,
            workers=self.workers,
        )


def calibration_set(bundle, num_images: int, seed: int = 0, workers: int = 0) -> EvalSet:
    """The fixed, seeded subset of the train split (no augmentation) that BN calibration uses for every
    subnet: the one set whose prepared images are kept (per resolution), decoded by `workers` processes."""
    import numpy as np

    n = len(bundle.calib_source)
    indices = np.sort(np.random.default_rng(seed).permutation(n)[: min(num_images, n)]).tolist()
    return EvalSet(bundle.calib_source, bundle.preprocessing, indices, workers=workers)
