"""Optimizer and LR schedule of the BigNAS recipe, built on timm."""

from __future__ import annotations

import math

import torch
from timm.optim import create_optimizer_v2
from timm.scheduler.scheduler import Scheduler
from torch import nn

from .config import TrainConfig


class ExpTailLRScheduler(Scheduler):
    """Linear warmup, then `lr(t) = max(lr0 * decay_rate ** (t / decay_t), floor * lr0)` (BigNAS).

    The constant tail at `floor * lr0` lets the small subnets keep converging after the large ones
    would have frozen. `t` counts optimizer updates (`t_in_epochs=False`), so the decay is smooth within
    an epoch. `lr_scale` multiplies everything (the collapse guard lowers it on rollback).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        decay_t: float,
        decay_rate: float,
        warmup_t: int = 0,
        warmup_lr_init: float = 0.0,
        floor: float = 0.05,
        t_in_epochs: bool = False,
    ) -> None:
        super().__init__(optimizer, param_group_field="lr", t_in_epochs=t_in_epochs)
        self.decay_t, self.decay_rate, self.floor = decay_t, decay_rate, floor
        self.warmup_t, self.warmup_lr_init = warmup_t, warmup_lr_init
        self.lr_scale = 1.0

    def _get_lr(self, t: int) -> list[float]:
        lrs = []
        for lr0 in self.base_values:
            if t < self.warmup_t:
                lr = self.warmup_lr_init + (lr0 - self.warmup_lr_init) * t / self.warmup_t
            else:
                lr = max(lr0 * self.decay_rate ** ((t - self.warmup_t) / self.decay_t), self.floor * lr0)
            lrs.append(lr * self.lr_scale)
        return lrs

    def state_dict(self) -> dict:
        return {"lr_scale": self.lr_scale, **super().state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        state = dict(state_dict)
        self.lr_scale = state.pop("lr_scale", 1.0)
        super().load_state_dict(state)


def create_train_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD-nesterov or RMSProp-TF; weight decay lives in the optimizer (applied once per step) and skips
    BN and bias parameters (`filter_bias_and_bn`)."""
    extra = {"eps": 1e-3} if config.opt == "rmsproptf" else {}
    return create_optimizer_v2(
        model,
        opt=config.opt,
        lr=config.lr,
        weight_decay=config.weight_decay,
        momentum=config.momentum,
        filter_bias_and_bn=True,
        **extra,
    )


def create_train_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> ExpTailLRScheduler:
    """The schedule in optimizer updates; `lr_tail=False` removes the floor (plain exponential decay)."""
    return ExpTailLRScheduler(
        optimizer,
        decay_t=config.lr_decay_epochs * steps_per_epoch,
        decay_rate=config.lr_decay_rate,
        warmup_t=math.ceil(config.warmup_epochs * steps_per_epoch),
        warmup_lr_init=config.lr * 0.01,
        floor=config.lr_floor if config.lr_tail else 0.0,
    )
