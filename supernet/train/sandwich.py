"""One BigNAS sandwich step: largest, smallest and random subnets on the same batch, gradients summed.

The largest subnet learns from the labels (label-smoothed CE) with dropout/drop-path on; every other
subnet learns from the largest's detached softmax on the same crop, resized to its resolution (in-place
distillation: no second teacher forward). Each subnet's backward runs right away, so memory holds one
subnet's graph at a time and `param.grad` ends as the *sum* of the subnets' gradients.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable

import torch
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy

from ..arch import ArchConfig
from ..model import ElasticMobileNetV2
from ..space import SearchSpace
from .resize import resize_to


def step_archs(
    space: SearchSpace, *, seed: int, step: int, num_random: int, sandwich: bool = True
) -> list[ArchConfig]:
    """The subnets of global step `step`: [largest, smallest, random...] (or only random without sandwich).

    The random ones come from `random.Random(f"{seed}:{step}")`, so every rank and a resumed run agree.
    """
    rng = random.Random(f"{seed}:{step}")
    randoms = [space.sample(rng) for _ in range(num_random)]
    return [space.largest(), space.smallest(), *randoms] if sandwich else randoms


def sandwich_backward(
    model: ElasticMobileNetV2,
    images: torch.Tensor,
    targets: torch.Tensor,
    archs: list[ArchConfig],
    *,
    label_smoothing: float = 0.1,
    inplace_distill: bool = False,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    scale_loss: Callable[[torch.Tensor], torch.Tensor] = lambda loss: loss,
) -> dict:
    """Forward and backward every subnet of `archs` on `images`; no optimizer step.

    The largest subnet (when first in `archs`) is trained on labels with regularisation and, with
    `inplace_distill`, is the teacher of the rest; otherwise each subnet trains on the labels.
    `scale_loss` lets a GradScaler scale each loss before its backward. Returns the summed loss and the
    per-subnet losses (floats, unscaled).
    """
    largest = model.space.largest()
    label_loss = (
        LabelSmoothingCrossEntropy(label_smoothing) if label_smoothing > 0 else torch.nn.CrossEntropyLoss()
    )
    soft_loss = SoftTargetCrossEntropy()
    teacher_probs = None
    losses = []
    for i, arch in enumerate(archs):
        is_teacher = i == 0 and arch == largest
        model.set_active(arch, regularize=arch == largest)
        with autocast():
            logits = model(resize_to(images, arch.resolution))
        logits = logits.float()
        if teacher_probs is not None:
            loss = soft_loss(logits, teacher_probs)
        else:
            loss = label_loss(logits, targets)
        if is_teacher and inplace_distill:
            teacher_probs = logits.detach().softmax(dim=-1)
        scale_loss(loss).backward()
        losses.append(float(loss.detach()))
    model.set_active(largest)
    return {"loss": sum(losses), "losses": losses}
