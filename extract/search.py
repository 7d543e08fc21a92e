"""Search strategies under a latency budget: coarse-to-fine (BigNAS), random and evolution (OFA).

Every strategy works on an `ArchEvaluator` (cached scores, a hard evaluation cap) and a budget in ms,
so they are compared at equal work. Several budgets in one call share the evaluator: an arch scored for
one budget is free for the others, and each budget's answer is the best scored arch within it.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from supernet import ArchConfig, SearchSpace

from .errors import BudgetError, ExtractError
from .evaluator import ArchEvaluator, BudgetExhausted, Evaluation
from .moves import coarse_grid, maximal_levels, random_step, trade

MAX_STALL = 2000  # proposals in a row that are over budget or already scored: the space is exhausted
# Uniform samples drawn per feasible one before giving up: under a tight budget only 1 sample in ~600 fits
# (mbv2-small at 2 MMACs), and predicting a latency costs microseconds, so be patient (about 1 s at most).
MAX_SAMPLE_TRIES = 20_000


def _feasible(evaluator: ArchEvaluator, arch: ArchConfig | None, budget_ms: float) -> bool:
    return arch is not None and evaluator.latency_ms(arch) <= budget_ms and not evaluator.is_scored(arch)


def _spread(items: list, n: int) -> list:
    """`n` items evenly spaced over `items` (all of them if there are fewer)."""
    if len(items) <= n:
        return items
    return [items[round(i * (len(items) - 1) / max(1, n - 1))] for i in range(n)]


def coarse_to_fine(
    space: SearchSpace,
    evaluator: ArchEvaluator,
    budget_ms: float,
    rng: random.Random,
    coarse_fraction: float = 0.5,
    top_k: int = 3,
    num_proposals: int = 16,
) -> None:
    """BigNAS selection. Coarse: score the uniform archs (one level per knob for every stage) that fill the
    budget, i.e. the maximal feasible grid points, spread over latency if they exceed their share. Fine:
    from the `top_k` best archs so far, propose per-stage/per-block edits (grow one gene, or grow one and
    shrink another) under the budget and score the proposal that uses most of the budget of a random half.
    """
    grid = coarse_grid(space)
    feasible = [lv for lv, a in grid.items() if evaluator.latency_ms(a) <= budget_ms]
    points = sorted((grid[lv] for lv in maximal_levels(feasible)), key=evaluator.latency_ms)
    coarse_share = max(1, int(evaluator.remaining * coarse_fraction))
    for arch in _spread(points, coarse_share):
        evaluator.score(arch)
    stall = 0
    while stall < MAX_STALL:
        parents = [e.arch for e in evaluator.scored(budget_ms)[:top_k]]
        if not parents:
            return
        proposals = []
        for _ in range(num_proposals):
            parent = rng.choice(parents)
            child = random_step(space, parent, rng, +1) if rng.random() < 0.5 else trade(space, parent, rng)
            if _feasible(evaluator, child, budget_ms) and child not in proposals:
                proposals.append(child)
        if not proposals:
            stall += num_proposals
            continue
        stall = 0
        rng.shuffle(proposals)
        half = proposals[: max(1, len(proposals) // 2)]
        evaluator.score(max(half, key=evaluator.latency_ms))


def _sample_feasible(space: SearchSpace, evaluator: ArchEvaluator, budget_ms: float, rng: random.Random):
    """A uniform sample under the budget and not yet scored (rejection sampling, as OFA does)."""
    for _ in range(MAX_SAMPLE_TRIES):
        arch = space.sample(rng)
        if _feasible(evaluator, arch, budget_ms):
            return arch
    return None


def random_search(space: SearchSpace, evaluator: ArchEvaluator, budget_ms: float, rng: random.Random) -> None:
    """Score uniform random archs under the budget until the allowance is spent: the baseline to beat."""
    while (arch := _sample_feasible(space, evaluator, budget_ms, rng)) is not None:
        evaluator.score(arch)


def evolution(
    space: SearchSpace,
    evaluator: ArchEvaluator,
    budget_ms: float,
    rng: random.Random,
    parent_ratio: float = 0.25,
    mutate_prob: float = 0.1,
    mutation_ratio: float = 0.5,
) -> None:
    """OFA's evolutionary search scaled to the allowance: population = allowance/4 (4 to 100), top 25%
    are parents, children by mutation (p=0.1 per gene) or crossover, rejected when over budget."""
    pop_size = min(100, max(4, evaluator.remaining // 4))
    population: list[Evaluation] = []
    while len(population) < pop_size and (arch := _sample_feasible(space, evaluator, budget_ms, rng)):
        evaluator.score(arch)
        population.append(_record(evaluator, arch))
    while population:
        parents = sorted(population, key=lambda e: -e.score)[: max(2, int(pop_size * parent_ratio))]
        children: list[Evaluation] = []
        stall = 0
        while len(parents) + len(children) < pop_size and stall < MAX_STALL:
            if rng.random() < mutation_ratio or len(parents) < 2:
                child = space.mutate(rng.choice(parents).arch, mutate_prob, rng)
            else:
                a, b = rng.sample(parents, 2)
                child = space.crossover(a.arch, b.arch, rng)
            if not _feasible(evaluator, child, budget_ms):
                stall += 1
                continue
            evaluator.score(child)
            children.append(_record(evaluator, child))
            stall = 0
        if not children:
            return
        population = parents + children


def _record(evaluator: ArchEvaluator, arch: ArchConfig) -> Evaluation:
    return next(e for e in reversed(evaluator.history) if e.arch == arch)


STRATEGIES: dict[str, Callable[..., None]] = {
    "coarse-to-fine": coarse_to_fine,
    "random": random_search,
    "evolution": evolution,
}


def check_budgets(
    space: SearchSpace, latency_fn: Callable[[ArchConfig], float], budgets_ms: list[float], unit: str = "ms"
) -> float:
    """Raise BudgetError for a budget below the smallest subnet's latency (in `unit`); return that latency."""
    if not budgets_ms or any(not b > 0 for b in budgets_ms):
        raise ExtractError(f"latency budgets must be positive numbers in ms, got {budgets_ms}")
    floor = float(latency_fn(space.smallest()))
    if min(budgets_ms) < floor:
        raise BudgetError(
            f"budget {min(budgets_ms):g} {unit} is below the smallest subnet's predicted latency {floor:.4g} {unit} "
            f"({space.smallest()}); use a budget of at least {floor:.4g} {unit}"
        )
    return floor


def run_search(
    space: SearchSpace,
    evaluator: ArchEvaluator,
    *,
    budgets_ms: list[float],
    strategy: str = "coarse-to-fine",
    seed: int = 0,
) -> dict[float, Evaluation]:
    """Split the evaluator's remaining evaluations over the budgets (tightest first, a budget's unused share
    passes on) and return the best scored arch within each budget."""
    if strategy not in STRATEGIES:
        raise ExtractError(f"unknown search strategy {strategy!r}; allowed: {', '.join(STRATEGIES)}")
    check_budgets(space, evaluator.latency_ms, budgets_ms)
    budgets = sorted(set(budgets_ms))
    if evaluator.remaining_total < len(budgets):
        raise ExtractError(f"{len(budgets)} budgets need at least {len(budgets)} evaluations; raise --evals")
    for i, budget in enumerate(budgets):
        evaluator.allow(evaluator.remaining_total // (len(budgets) - i))
        try:
            STRATEGIES[strategy](space, evaluator, budget, random.Random(f"{seed}-{budget}"))
        except BudgetExhausted:
            pass
        if evaluator.best(budget) is None:  # nothing scored fits (stalled sampler): the smallest always does
            evaluator.allow(1)
            evaluator.score(space.smallest())
    evaluator.allow(evaluator.max_evals)
    return {b: evaluator.best(b) for b in budgets}
