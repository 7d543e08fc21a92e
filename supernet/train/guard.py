"""Collapse guard: skip steps whose loss explodes, roll back when it keeps happening.

Public re-implementations of the BigNAS recipe report runs that collapse to chance accuracy mid-training.
A step is skipped (no optimizer update) when its gradient norm or loss is non-finite, or its loss is far
above the running mean of recent accepted losses. After `max_skips` skipped steps since the last
snapshot, the trainer restores that snapshot and lowers the LR.

Every input is the same on all ranks when the trainer passes the rank-averaged loss and the gradient
norm after gradient sync, so all ranks take the same decision.
"""

from __future__ import annotations

import math
from collections import deque


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
        elif loss is not None and len(self.recent) >= self.warmup_steps:
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
