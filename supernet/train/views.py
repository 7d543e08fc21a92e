"""Evaluation's view of a data set: each image decoded and transformed by the preprocessing contract."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset, Subset

from ..preprocess import Preprocessing


class EvalView(Dataset):
    """(image, label) pairs of a data set, each image decoded and transformed by a `Preprocessing`.

    Reads the images themselves, not the data set's own (training-size, normalised) tensors, so the
    input is exactly what a user following the model card computes from an image file.
    """

    def __init__(self, dataset: Dataset, preprocessing: Preprocessing) -> None:
        self.dataset, self.preprocessing = dataset, preprocessing
        self.transform = preprocessing.eval_transform()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = raw_image(self.dataset, index)
        return self.transform(image.convert(self.preprocessing.channel_order)), int(label)


def raw_image(dataset: Dataset, index: int):
    """(decoded PIL image, label) of item `index` of one of our data sets (through Subsets)."""
    while isinstance(dataset, Subset):
        dataset, index = dataset.dataset, dataset.indices[index]
    if hasattr(dataset, "image"):  # TensorImageDataset: 8-bit images in memory
        return dataset.image(index), int(dataset.labels[index])
    samples = getattr(dataset, "samples", None)  # torchvision ImageFolder
    if samples is not None:
        path, label = samples[index]
        return dataset.loader(path), label
    raise TypeError(f"{type(dataset).__name__} has no image files to decode")
