"""Per-arch cache of scores and predicted latencies with a hard cap on the number of scored archs.

Scoring an arch (BN recalibration + validation accuracy) is the expensive step of a search; predicting
its latency from a table is not. Every strategy goes through one `ArchEvaluator`, so strategies compared
at the same `max_evals` really did the same amount of work, and several budgets share evaluations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tqdm.auto import tqdm

from supernet import ArchConfig


class BudgetExhausted(Exception):
    """Raised by `ArchEvaluator.score` when the evaluation allowance is spent (control flow, not an error)."""


@dataclass(frozen=True)
class Evaluation:
    """One scored arch; `index` is its position in evaluation order."""

    arch: ArchConfig
    latency_ms: float
    score: float
    index: int

    def to_dict(self) -> dict:
        return {
            "arch": self.arch.to_dict(),
            "latency_ms": self.latency_ms,
            "score": self.score,
            "index": self.index,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Evaluation:
        return cls(
            ArchConfig.from_dict(data["arch"]),
            float(data["latency_ms"]),
            float(data["score"]),
            int(data["index"]),
        )


class ArchEvaluator:
    """Cached `score(arch)` and `latency_ms(arch)`; at most `max_evals` distinct archs are ever scored.

    `allow(n)` opens a window of `n` further evaluations (a strategy's share); scoring beyond the window or
    beyond `max_evals` raises `BudgetExhausted`. Cached archs are free and never raise.
    """

    def __init__(
        self,
        score_fn: Callable[[ArchConfig], float],
        latency_fn: Callable[[ArchConfig], float],
        max_evals: int,
        progress: bool = False,
    ) -> None:
        if max_evals < 1:
            raise ValueError("max_evals must be at least 1")
        self.score_fn = score_fn
        self.latency_fn = latency_fn
        self.max_evals = max_evals
        self.history: list[Evaluation] = []
        self.preloaded: list[Evaluation] = []
        self._scores: dict[ArchConfig, Evaluation] = {}
        self._latency: dict[ArchConfig, float] = {}
        self._stop_at = max_evals
        self._bar = tqdm(
            total=max_evals, desc="search", unit="arch", disable=None if progress else True, leave=False
        )  # None: bars only on a terminal

    @property
    def num_evals(self) -> int:
        return len(self.history)

    @property
    def remaining(self) -> int:
        return min(self._stop_at, self.max_evals) - self.num_evals

    @property
    def remaining_total(self) -> int:
        return self.max_evals - self.num_evals

    def allow(self, n: int) -> None:
        """Let the next `n` new evaluations through (capped by `max_evals`)."""
        self._stop_at = min(self.max_evals, self.num_evals + max(0, n))

    def latency_ms(self, arch: ArchConfig) -> float:
        if arch not in self._latency:
            self._latency[arch] = float(self.latency_fn(arch))
        return self._latency[arch]

    def is_scored(self, arch: ArchConfig) -> bool:
        return arch in self._scores

    def score(self, arch: ArchConfig) -> float:
        if arch in self._scores:
            return self._scores[arch].score
        if self.remaining <= 0:
            raise BudgetExhausted
        ev = Evaluation(arch, self.latency_ms(arch), float(self.score_fn(arch)), self.num_evals)
        self._scores[arch] = ev
        self.history.append(ev)
        best = max(e.score for e in self.history)
        self._bar.set_postfix_str(f"best {best:.4f}", refresh=False)
        self._bar.update(1)
        return ev.score

    def preload(self, scores: list[tuple[ArchConfig, float]]) -> None:
        """Reuse (arch, score) pairs of an earlier search of the same checkpoint and data: they are free, do
        not count against `max_evals`, and their latency is predicted afresh (the table may differ)."""
        for arch, score in scores:
            if arch not in self._scores:
                ev = Evaluation(arch, self.latency_ms(arch), float(score), -1)
                self._scores[arch] = ev
                self.preloaded.append(ev)

    def scored(self, budget_ms: float | None = None) -> list[Evaluation]:
        """Every scored arch (this run's and preloaded), best first, optionally only those within `budget_ms`."""
        evs = [e for e in self._scores.values() if budget_ms is None or e.latency_ms <= budget_ms]
        return sorted(evs, key=lambda e: (-e.score, e.latency_ms, e.index))

    def best(self, budget_ms: float) -> Evaluation | None:
        evs = self.scored(budget_ms)
        return evs[0] if evs else None

    def close(self) -> None:
        self._bar.close()
