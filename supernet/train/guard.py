"""Collapse guard: skip steps whose loss explodes, roll back when it keeps happening.

Public re-implementations of the BigNAS recipe report runs that collapse to chance accuracy mid-training.
A step is skipped (no optimizer update) when its gradient norm or loss is non-finite, or its loss is far
above the running mean of recent accepted losses. After `max_skips` skipped steps since the last
snapshot, the trainer restores that snapshot and lowers the LR.

At every epoch end, before anything is saved, `check_health` stops the run (a `DivergenceError`, one
line naming the step and the likely cause) when the weights hold NaN/inf, or when the loss stays at
chance while the weight norm has exploded (e.g. `--lr 1000`): such weights are never checkpointed.

Every input is the same on all ranks when the trainer passes the rank-averaged loss and the gradient
norm after gradient sync, so all ranks take the same decision.
"""

from __future__ import annotations

import copy
import math
from collections import deque

import torch

from ..errors import SupernetError

NORM_GROWTH_LIMIT = 100.0  # weight norm / initial norm beyond which a run at chance counts as diverged
CHANCE_FRACTION = 0.9  # a loss above 0.9 * ln(num_classes) is (near) chance


class DivergenceError(SupernetError):
    """Training diverged: the weights are not worth saving."""


def weight_norm(model: torch.nn.Module) -> float:
    """L2 norm over all parameters (NaN/inf if any is)."""
    with torch.no_grad():
        return float(torch.sqrt(sum((p.detach().float() ** 2).sum() for p in model.parameters())))


def check_health(
    model: torch.nn.Module,
    initial_norm: float,
    *,
    loss: float,
    num_classes: int,
    epoch: int,
    step: int,
    lr: float,
    momentum: float,
) -> float:
    """Raise DivergenceError for non-finite weights, or a loss at chance with an exploded weight norm;
    return the current weight norm. `loss` is the epoch's mean loss per subnet (NaN if every step was skipped)."""
    norm = weight_norm(model)
    cause = f"likely cause: lr {lr:g} too high (or momentum {momentum:g}); lower --lr and start a new run"
    if not math.isfinite(norm):
        bad = sum(int((~torch.isfinite(p)).sum()) for p in model.parameters())
        raise DivergenceError(
            f"training diverged at epoch {epoch} (step {step}): {bad} weights are NaN or infinite; epoch {epoch} "
            f"was not saved (earlier checkpoints are kept); {cause}"
        )
    chance = math.log(max(2, num_classes))
    growth = norm / max(initial_norm, 1e-12)
    at_chance = not math.isfinite(loss) or loss >= CHANCE_FRACTION * chance
    if at_chance and growth > NORM_GROWTH_LIMIT:
        raise DivergenceError(
            f"training diverged at epoch {epoch} (step {step}): loss {loss:.3g} stays at chance "
            f"(ln {num_classes} = {chance:.3g}) while the weight norm grew {growth:.3g}x to {norm:.3g}; "
            f"epoch {epoch} was not saved (earlier checkpoints are kept); {cause}"
        )
    return norm


class CollapseGuard:
    def __init__(
        self, spike_factor: float = 5.0, warmup_steps: int = 20, max_skips: int = 3, window: int = 50
    ):
        self.spike_factor, self.warmup_steps, self.max_skips = spike_factor, warmup_steps, max_skips
        self.recent: deque[float] = deque(maxlen=window)
        self.skips_since_snapshot = 0

    def check(self, loss: float | None, grad_norm: float) -> str | None:
        """The reason to skip this step ('non-finite' or 'spike'), or None to take it.

        `loss=None` disables the spike test (e.g. when ranks cannot agree on a loss).
        """
        reason = None
        if not math.isfinite(grad_norm) or (loss is not None and not math.isfinite(loss)):
            reason = "non-finite"
        elif loss is not None and len(self.recent) >= max(1, self.warmup_steps):
            if loss > self.spike_factor * (sum(self.recent) / len(self.recent)):
                reason = "spike"
        if reason:
            self.skips_since_snapshot += 1
        elif loss is not None:
            self.recent.append(loss)
        return reason

    @property
    def should_roll_back(self) -> bool:
        return self.skips_since_snapshot >= self.max_skips

    def snapshot_taken(self) -> None:
        self.skips_since_snapshot = 0

    def state_dict(self) -> dict:
        return {"recent": list(self.recent), "skips_since_snapshot": self.skips_since_snapshot}

    def load_state_dict(self, state: dict) -> None:
        self.recent.clear()
        self.recent.extend(float(v) for v in state["recent"])
        self.skips_since_snapshot = int(state["skips_since_snapshot"])


class Snapshot:
    """An in-memory copy of the state of some objects (model, optimizer, grad scaler: each with
    `state_dict`/`load_state_dict`) taken now; `restore()` puts it back. What the guard rolls back to."""

    def __init__(self, **parts) -> None:
        self.parts = parts
        self.saved = copy.deepcopy({name: part.state_dict() for name, part in parts.items()})

    def __getitem__(self, name: str) -> dict:
        """The saved state of part `name`."""
        return self.saved[name]

    def restore(self) -> None:
        for name, part in self.parts.items():
            part.load_state_dict(self.saved[name])
