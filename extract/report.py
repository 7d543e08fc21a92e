"""Search outputs: the Pareto front, a budget table, a plot, and the search log (resumable evidence)."""

from __future__ import annotations

from pathlib import Path

from supernet import ArchConfig, SupernetError
from supernet.checks import check_float
from supernet.files import atomic_write
from supernet.jsonfile import parse_json

from .errors import ExtractError
from .evaluator import ArchEvaluator, Evaluation
from .files import write_json


def pareto_front(evaluations: list[Evaluation]) -> list[Evaluation]:
    """Scored archs no other is at least as fast and strictly more accurate than, fastest first."""
    front: list[Evaluation] = []
    for ev in sorted(evaluations, key=lambda e: (e.latency_ms, -e.score)):
        if not front or ev.score > front[-1].score:
            front.append(ev)
    return front


def budget_table(
    best: dict[float, Evaluation | None], unit: str = "ms", measured: dict | None = None, stat: str = "median"
) -> str:
    """Markdown: one row per budget with the chosen arch, its validation accuracy and latency."""
    measured = measured or {}
    rows = [
        f"| budget ({unit}) | predicted ({unit}) | measured (ms, {stat}) | val acc | arch |",
        "|---:|---:|---:|---:|---|",
    ]
    for budget, ev in sorted(best.items()):
        m = measured.get(budget)
        rows.append(
            f"| {budget:g} | {ev.latency_ms:.4g} | {'-' if m is None else f'{m:.4g}'} | {ev.score:.4f} | `{ev.arch}` |"
        )
    return "\n".join(rows) + "\n"


def plot_pareto(
    evaluator: ArchEvaluator,
    best: dict[float, Evaluation | None],
    *,
    path: str | Path,
    unit: str = "ms",
    title: str = "",
) -> Path:
    """Accuracy vs predicted latency of every scored arch, the front, the budgets and the chosen archs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    evs = evaluator.scored()
    front = pareto_front(evs)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.scatter([e.latency_ms for e in evs], [e.score for e in evs], s=10, alpha=0.4, label="scored archs")
    ax.step(
        [e.latency_ms for e in front],
        [e.score for e in front],
        where="post",
        color="C1",
        label="Pareto front",
    )
    for budget, ev in best.items():
        ax.axvline(budget, color="0.7", lw=0.8, ls="--")
        if ev is not None:
            ax.scatter([ev.latency_ms], [ev.score], marker="*", s=120, color="C3", zorder=3)
    ax.set_xlabel(f"predicted latency ({unit})")
    ax.set_ylabel("validation accuracy")
    ax.set_title(title or "subnets under the latency budgets (stars: chosen)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)
    return path


def save_search(
    path: str | Path, evaluator: ArchEvaluator, best: dict[float, Evaluation | None], **meta
) -> Path:
    """Every scored arch in order, with the settings that make the scores reproducible."""
    return write_json(
        path,
        {
            **meta,
            "max_evals": evaluator.max_evals,
            "num_evals": evaluator.num_evals,
            "best": {f"{b:g}": (None if e is None else e.to_dict()) for b, e in sorted(best.items())},
            "pareto_front": [e.to_dict() for e in pareto_front(evaluator.scored())],
            "history": [e.to_dict() for e in evaluator.history],
            "previous": [e.to_dict() for e in evaluator.preloaded],
        },
    )


def load_scores(path: str | Path, **expected) -> list[tuple[ArchConfig, float]]:
    """(arch, score) pairs of an earlier `search.json` (its own and those it had resumed), provided it was
    made under the same `expected` settings (checkpoint hash, calibration and validation sizes)."""
    path = Path(path)
    if not path.is_file():
        raise ExtractError(f"--resume needs an earlier search log at {path}; none is there")
    log = parse_json(path.read_text(errors="replace"), f"search log {path}", ExtractError)  # no NaN scores
    try:
        entries = [*log.get("previous", []), *log["history"]]
        scores = [(ArchConfig.from_dict(e["arch"]), check_float("score", e["score"])) for e in entries]
    except (SupernetError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise ExtractError(
            f"search log {path} is unreadable ({e.__class__.__name__}: {e}); remove it or drop --resume"
        )
    for key, value in expected.items():
        if log.get(key) != value:
            raise ExtractError(
                f"search log {path} was made with {key}={log.get(key)!r}, not {value!r}; its scores do not apply "
                "(drop --resume or use another --out)"
            )
    return scores
