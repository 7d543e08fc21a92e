"""Pure bookkeeping for experiments/fashion_mnist_full.py (issue 11): no torch, no files, unit-tested.

- `lr_tail_epoch`: when the BigNAS schedule (warmup, then exponential decay) reaches its constant floor.
- `plateau`: did validation accuracy move less than `tol` points over the last `window` epochs?
- `cpu_hours`, `cpu_cost`: training cost of a run from measured CPU time, or its wall time x processes.
- `evals_to_best`: how many scored archs a search needed to first reach a target accuracy.
- `mean_spread`, `collapsed`: summaries for the tables.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence


def lr_tail_epoch(warmup_epochs: float, decay_rate: float, decay_epochs: float, floor: float) -> float:
    """Epoch at which `lr0 * decay_rate ** ((t - warmup) / decay_epochs)` falls to `floor * lr0`."""
    if not (0 < decay_rate < 1 and 0 < floor < 1 and decay_epochs > 0 and warmup_epochs >= 0):
        raise ValueError("need 0 < decay_rate < 1, 0 < floor < 1, decay_epochs > 0, warmup_epochs >= 0")
    return warmup_epochs + decay_epochs * math.log(floor) / math.log(decay_rate)


def epochs_into_tail(warmup_epochs: float, decay_rate: float, decay_epochs: float, floor: float) -> int:
    """Whole epochs such that at least one full epoch runs at the floor LR."""
    return math.ceil(lr_tail_epoch(warmup_epochs, decay_rate, decay_epochs, floor)) + 1


def plateau(val_accs: Sequence[float], window: int = 2, tol_points: float = 0.3) -> tuple[bool, float]:
    """(plateaued, movement in points): max - min of the last `window` + 1 per-epoch accuracies (fractions).

    "Moving < 0.3 points over the last 2 epochs" compares the accuracy before those epochs with the
    accuracy after each of them, so it needs `window + 1` values; with fewer it is (False, nan).
    """
    if window < 1:
        raise ValueError("window must be >= 1")
    if len(val_accs) < window + 1:
        return False, float("nan")
    last = [100 * a for a in val_accs[-(window + 1) :]]
    move = max(last) - min(last)
    return move < tol_points, move


def cpu_hours(epoch_times_s: Iterable[float], processes: int) -> float:
    """Core-hours of a run from wall time: its epochs' wall times times the processes (one busy core each).
    On a shared machine wall time includes waiting; prefer `cpu_cost` with measured CPU time."""
    if processes < 1:
        raise ValueError("processes must be >= 1")
    return sum(epoch_times_s) * processes / 3600.0


def cpu_cost(
    epoch_cpu_s: Sequence[float | None], epoch_wall_s: Sequence[float], processes: int
) -> tuple[float, str]:
    """(CPU-hours, how they were obtained) of a run's epochs.

    Measured process CPU time (all processes, all threads) where an epoch has it; epochs without it (e.g.
    trained before CPU time was recorded) are counted at the mean of the measured ones, since every epoch
    does the same work; with no measured epoch at all, wall time x processes (`cpu_hours`).
    """
    if len(epoch_cpu_s) != len(epoch_wall_s):
        raise ValueError("one CPU time (or None) per epoch")
    measured = [c for c in epoch_cpu_s if c is not None]
    if not measured:
        return cpu_hours(epoch_wall_s, processes), "wall x processes"
    mean = statistics.mean(measured)
    hours = sum(mean if c is None else c for c in epoch_cpu_s) / 3600.0
    if len(measured) == len(epoch_cpu_s):
        return hours, "CPU time"
    return hours, f"CPU time of {len(measured)} of {len(epoch_cpu_s)} epochs, the others at their mean"


def best_so_far(scores: Sequence[float]) -> list[float]:
    """Running maximum of a search's scores in the order it scored them."""
    out, top = [], -math.inf
    for s in scores:
        top = max(top, s)
        out.append(top)
    return out


def evals_to_best(curve: Sequence[float], target: float, tol: float = 1e-12) -> int | None:
    """1-based number of evaluations after which the best-so-far `curve` first reaches `target`; None if never."""
    for i, v in enumerate(curve):
        if v >= target - tol:
            return i + 1
    return None


def mean_spread(xs: Sequence[float]) -> tuple[float, float]:
    """(mean, sample standard deviation; 0 for a single value)."""
    if not xs:
        raise ValueError("no values")
    return statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


def collapsed(chosen: Sequence[tuple[float, str]]) -> list[tuple[float, float, str]]:
    """Neighbouring budgets (sorted) that chose the same arch: [(budget_a, budget_b, arch), ...]."""
    ordered = sorted(chosen)
    return [(a, b, arch) for (a, arch), (b, arch_b) in zip(ordered, ordered[1:]) if arch == arch_b]
