"""Search strategies on an analytic latency (MMACs) and a synthetic accuracy: budgets, caps, sharing."""

import statistics

import pytest

from extract import search
from extract.errors import BudgetError, ExtractError
from extract.evaluator import ArchEvaluator, BudgetExhausted
from extract.search import STRATEGIES, run_search


def test_evaluator_caches_and_caps(space, mmacs):
    calls = []
    ev = ArchEvaluator(lambda a: calls.append(a) or 0.5, mmacs, max_evals=2)
    a, b, c = space.smallest(), space.largest(), space.sample(__import__("random").Random(0))
    assert ev.score(a) == ev.score(a) == 0.5
    ev.score(b)
    assert calls == [a, b] and ev.num_evals == 2
    with pytest.raises(BudgetExhausted):
        ev.score(c)
    assert ev.score(b) == 0.5  # cached archs stay free
    assert ev.best(mmacs(a)).arch == a


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_respects_budget_and_evaluation_cap(space, mmacs, synthetic_accuracy, strategy):
    ev = ArchEvaluator(synthetic_accuracy, mmacs, max_evals=24)
    best = run_search(space, ev, budgets_ms=[3.0, 6.0], strategy=strategy, seed=1)
    assert ev.num_evals == 24
    assert set(best) == {3.0, 6.0}
    assert all(e.latency_ms <= 6.0 for e in ev.history)
    assert best[3.0].latency_ms <= 3.0 and best[6.0].latency_ms <= 6.0
    assert best[6.0].score >= best[3.0].score  # the looser budget sees every arch the tighter one does
    assert best[3.0] == max((e for e in ev.history if e.latency_ms <= 3.0), key=lambda e: e.score)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_search_is_deterministic_given_the_seed(space, mmacs, synthetic_accuracy, strategy):
    runs = []
    for _ in range(2):
        ev = ArchEvaluator(synthetic_accuracy, mmacs, max_evals=12)
        run_search(space, ev, budgets_ms=[4.0], strategy=strategy, seed=3)
        runs.append([e.arch for e in ev.history])
    assert runs[0] == runs[1]


def test_coarse_to_fine_beats_random_at_equal_evaluations(space, mmacs, synthetic_accuracy):
    """On a capacity-driven objective, filling the budget wins; 5 seeds, equal evaluations."""
    gains = []
    for seed in range(5):
        scores = {}
        for strategy in ("coarse-to-fine", "random"):
            ev = ArchEvaluator(synthetic_accuracy, mmacs, max_evals=20)
            scores[strategy] = run_search(space, ev, budgets_ms=[4.0], strategy=strategy, seed=seed)[
                4.0
            ].score
        gains.append(scores["coarse-to-fine"] - scores["random"])
    assert statistics.mean(gains) > 0 and min(gains) >= 0


def test_budget_below_smallest_subnet_names_the_floor(space, mmacs, synthetic_accuracy):
    ev = ArchEvaluator(synthetic_accuracy, mmacs, max_evals=5)
    floor = mmacs(space.smallest())
    with pytest.raises(BudgetError, match=f"smallest subnet's predicted latency {floor:.4g}"):
        run_search(space, ev, budgets_ms=[floor / 2, 5.0])
    assert ev.num_evals == 0


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_budget_of_exactly_the_smallest_subnet_finds_it(
    space, mmacs, synthetic_accuracy, strategy, monkeypatch
):
    monkeypatch.setattr(search, "MAX_SAMPLE_TRIES", 50)  # samplers give up fast; the smallest is the fallback
    ev = ArchEvaluator(synthetic_accuracy, mmacs, max_evals=5)
    best = run_search(space, ev, budgets_ms=[mmacs(space.smallest())], strategy=strategy)
    assert best[mmacs(space.smallest())].arch == space.smallest()


def test_bad_strategy_and_too_few_evaluations(space, mmacs, synthetic_accuracy):
    with pytest.raises(ExtractError, match="unknown search strategy 'grid'"):
        run_search(space, ArchEvaluator(synthetic_accuracy, mmacs, 5), budgets_ms=[5.0], strategy="grid")
    with pytest.raises(ExtractError, match="3 budgets need at least 3 evaluations"):
        run_search(space, ArchEvaluator(synthetic_accuracy, mmacs, 2), budgets_ms=[4.0, 5.0, 6.0])
