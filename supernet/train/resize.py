"""The one resize between a data set's images and a subnet's input resolution.

Training (teacher and students), BN calibration and evaluation all call `resize_to`, and the model card
records `RESIZE_MODE`, so a deployed subnet sees inputs prepared exactly as in training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

RESIZE_MODE = "bilinear"
ALIGN_CORNERS = False


def resize_to(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Resize a NCHW batch to `resolution` x `resolution` (bilinear, align_corners=False, no antialias)."""
    if images.shape[-2:] == (resolution, resolution):
        return images
    return F.interpolate(images, size=(resolution, resolution), mode=RESIZE_MODE, align_corners=ALIGN_CORNERS)


def preprocessing_card(mean: tuple[float, ...], std: tuple[float, ...]) -> dict:
    """What a deployed subnet's inputs must go through, for the model card."""
    return {
        "resize": RESIZE_MODE,
        "align_corners": ALIGN_CORNERS,
        "antialias": False,
        "scale": "pixels / 255 (digits: / 16)",
        "mean": list(mean),
        "std": list(std),
    }
