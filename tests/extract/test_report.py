"""Pareto front, budget table, plot and search-log round trip."""

import json
import math

import pytest

from extract.errors import ExtractError
from extract.evaluator import ArchEvaluator, Evaluation
from extract.report import budget_table, load_scores, pareto_front, plot_pareto, save_search
from extract.search import run_search


def _ev(space, latency, score, i):
    return Evaluation(space.smallest(), latency, score, i)


def test_pareto_front_keeps_only_undominated_points(space):
    evs = [
        _ev(space, 1, 0.5, 0),
        _ev(space, 2, 0.4, 1),
        _ev(space, 2, 0.7, 2),
        _ev(space, 3, 0.7, 3),
        _ev(space, 4, 0.9, 4),
    ]
    assert [(e.latency_ms, e.score) for e in pareto_front(evs)] == [(1, 0.5), (2, 0.7), (4, 0.9)]


def test_search_log_table_and_plot(tmp_path, space, mmacs, synthetic_accuracy):
    ev = ArchEvaluator(synthetic_accuracy, mmacs, max_evals=8)
    best = run_search(space, ev, budgets_ms=[3.0, 5.0], strategy="coarse-to-fine", seed=0)
    table = budget_table(best, "MMACs", {3.0: 0.25})
    assert table.splitlines()[2].startswith("| 3 | ") and "| 0.25 |" in table and str(best[5.0].arch) in table
    png = plot_pareto(ev, best, path=tmp_path / "pareto.png", unit="MMACs")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    log = save_search(tmp_path / "search.json", ev, best, checkpoint_sha256="abc", val_images=10)
    data = json.loads(log.read_text())
    assert len(data["history"]) == 8 and data["best"]["5"]["score"] == best[5.0].score
    scores = load_scores(log, checkpoint_sha256="abc", val_images=10)
    assert scores == [(e.arch, e.score) for e in ev.history]
    with pytest.raises(ExtractError, match="checkpoint_sha256='abc', not 'other'"):
        load_scores(log, checkpoint_sha256="other")
    with pytest.raises(ExtractError, match="needs an earlier search log"):
        load_scores(tmp_path / "none.json")
    first = data["history"][0]
    for edited, words in [
        ({**data, "history": [{**first, "score": math.nan}]}, "allowed: finite numbers"),
        ({**data, "history": [{**first, "score": "0.9"}]}, "score must be a number"),
        ({**data, "previous": "x"}, "unreadable"),
        ([1, 2], "unreadable"),
    ]:
        log.write_text(json.dumps(edited))
        with pytest.raises(ExtractError, match=words):  # one line, not a traceback or a NaN in the search
            load_scores(log, checkpoint_sha256="abc", val_images=10)
