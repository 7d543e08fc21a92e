"""Exact BatchNorm statistics for one subnet, as BigNAS and OFA compute them after training.

During sandwich training every subnet updates the shared running statistics, so they fit no subnet in
particular. `recalibrate_bn` resets them and recomputes the population mean/variance of the chosen
subnet over a fixed set of calibration images (fvcore's `update_bn_stats`: a true average over all
batches, not an EMA). The supernet's BN layers slice their buffers in place, so the same code serves the
supernet (with `arch`) and a static timm subnet (`arch=None`). Afterwards the model is left in eval mode,
where it uses the recalibrated statistics.
"""

from __future__ import annotations

import logging
import warnings

import torch
from torch import nn

with warnings.catch_warnings():  # fvcore's import-time torch.jit.script use warns on every command
    warnings.simplefilter("ignore", FutureWarning)
    from fvcore.nn.precise_bn import update_bn_stats

from ..arch import ArchConfig
from ..model import ElasticMobileNetV2
from .resize import resize_to

# fvcore logs "Computing precise BN statistics for N BN layers ..." at INFO for every subnet it calibrates;
# where a process logs INFO (a Ray Train worker does) that repeats on every evaluation. Our progress says it.
logging.getLogger("fvcore.nn.precise_bn").setLevel(logging.WARNING)


@torch.no_grad()
def recalibrate_bn(
    model: nn.Module,
    arch: ArchConfig | None,
    images: torch.Tensor,
    batch_size: int = 200,
    resolution: int | None = None,
) -> nn.Module:
    """Recompute BN running stats of `model` (with `arch` active, if given) over `images`; returns `model`.

    Images are resized to `arch.resolution` (or `resolution` for a static model; default: as given) with
    the training resize. `batch_size` only bounds memory: the result is the population statistic.
    """
    if isinstance(model, ElasticMobileNetV2):
        if arch is None:
            raise ValueError("recalibrating the supernet needs the arch whose statistics to compute")
        model.set_active(arch)
    resolution = arch.resolution if arch is not None else resolution
    device = next(model.parameters()).device
    batches = [
        resize_to(chunk.to(device), resolution) if resolution else chunk.to(device)
        for chunk in images.split(batch_size)
        if len(chunk) > 1
    ]
    model.train()
    update_bn_stats(model, batches, num_iters=len(batches))
    return model.eval()
