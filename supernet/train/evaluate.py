"""Accuracy of one subnet = recalibrate its BN statistics, then classify at its resolution."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn

from ..arch import ArchConfig
from .bn_calib import recalibrate_bn
from .evalset import EvalSet
from .resize import resize_to


@torch.no_grad()
def accuracy(
    model: nn.Module,
    images: torch.Tensor | Iterable[tuple[torch.Tensor, torch.Tensor]],
    labels: torch.Tensor | None = None,
    batch_size: int = 500,
) -> float:
    """Top-1 accuracy in eval mode on images already at the model's input resolution: a tensor with its
    `labels`, or an iterable of (images, labels) batches (`EvalSet.batches`, streamed)."""
    model.eval()
    device = next(model.parameters()).device
    batches = zip(images.split(batch_size), labels.split(batch_size)) if labels is not None else images
    correct = total = 0
    for x, y in batches:
        correct += int((model(x.to(device, non_blocking=True)).argmax(-1).cpu() == y).sum())
        total += len(y)
    return correct / max(1, total)


def evaluate_subnet(
    model: nn.Module,
    arch: ArchConfig,
    calib_images: torch.Tensor | EvalSet,
    images: torch.Tensor | EvalSet,
    labels: torch.Tensor | None = None,
    batch_size: int = 500,
) -> float:
    """Recalibrate BN for `arch` (this overwrites the model's BN statistics), then accuracy at `arch.resolution`.

    Works on the supernet (`arch` is activated) and on a static timm subnet of `arch`. `EvalSet`s are
    prepared by the run's preprocessing contract at `arch.resolution` (what the shipped model's card
    states) and streamed in the set's batches; plain tensors (tests) are resized with `resize_to`.
    """
    if isinstance(calib_images, EvalSet):
        calib_images = calib_images.images(arch.resolution)
    recalibrate_bn(model, arch, calib_images, batch_size=min(batch_size, 200))
    if isinstance(images, EvalSet):  # streamed batch by batch
        return accuracy(model, images.batches(arch.resolution))
    return accuracy(model, resize_to(images, arch.resolution), labels, batch_size)


def evaluate_extremes(
    model: nn.Module, space, calib_images: EvalSet, split: EvalSet, *, batch_size: int = 500
) -> dict[str, float]:
    """Accuracy of the space's smallest and largest subnets, each after its own BN recalibration, on a copy
    of the supernet `model` (whose BN statistics stay as training left them)."""
    model = copy.deepcopy(model)
    return {
        name: evaluate_subnet(model, arch, calib_images, split, batch_size=batch_size)
        for name, arch in (("smallest", space.smallest()), ("largest", space.largest()))
    }
