"""`EvalSet`: a split as every evaluation sees it, at whatever resolution a subnet has.

Training's validation, BN calibration, extract's search scores and the shipped model's card all take
their images from an `EvalSet`, which decodes each image with the run's `Preprocessing` (timm's eval
transform at the subnet's resolution). So the accuracy on a card is the accuracy of a user who follows
the card with the image files. Prepared tensors are cached per resolution (a search visits few).
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset, Subset

from ..preprocess import Preprocessing
from .views import EvalView


class EvalSet:
    def __init__(
        self,
        dataset: Dataset,
        preprocessing: Preprocessing,
        indices: list[int] | None = None,
        cache: bool = True,
    ) -> None:
        self.dataset = dataset if indices is None else Subset(dataset, list(indices))
        self.preprocessing = preprocessing
        self.cache = cache
        self._prepared: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def view(self, resolution: int) -> EvalView:
        """The data set of (prepared image, label) pairs at `resolution` (for a DataLoader)."""
        return EvalView(self.dataset, self.preprocessing.at(resolution))

    def at(self, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Every image prepared for a subnet of `resolution`, and the labels."""
        if resolution in self._prepared:
            return self._prepared[resolution]
        view = self.view(resolution)
        samples = [view[i] for i in range(len(view))]
        prepared = (
            torch.stack([s[0] for s in samples]),
            torch.tensor([s[1] for s in samples], dtype=torch.long),
        )
        if self.cache:
            self._prepared[resolution] = prepared
        return prepared

    def images(self, resolution: int) -> torch.Tensor:
        return self.at(resolution)[0]

    def head(self, n: int) -> EvalSet:
        """The first `n` images (e.g. for a parity check)."""
        return EvalSet(self.dataset, self.preprocessing, list(range(min(n, len(self)))), self.cache)


def calibration_set(bundle, num_images: int, seed: int = 0) -> EvalSet:
    """The fixed, seeded subset of the train split (no augmentation) that BN calibration uses for every subnet."""
    import numpy as np

    n = len(bundle.calib_source)
    indices = np.sort(np.random.default_rng(seed).permutation(n)[: min(num_images, n)]).tolist()
    return EvalSet(bundle.calib_source, bundle.preprocessing, indices)
