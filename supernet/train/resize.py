"""The resize of training batches to a subnet's input resolution (bilinear, no antialias).

Training (teacher and students) resizes its batches with `resize_to`. Evaluation, BN calibration and the
shipped model instead follow the run's preprocessing contract (`supernet/preprocess.py`), which decodes
every image straight to the subnet's resolution.
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
