"""The latency budget a user asks `supernet extract` for: `--budget X[,Y...] [--unit U]` or `--budget-ms`."""

from __future__ import annotations

import argparse
import math

from .errors import ExtractError

UNITS = {"ms": "ms", "mmacs": "MMACs", "mparams": "Mparams"}  # --unit spelling -> a table's unit


def _budgets(text: str, flag: str) -> list[float]:
    items = [b.strip() for b in text.split(",")]
    if "" in items and any(items):  # '0.1,,0.2' or '0.1,': a typo, not a list of two
        raise ExtractError(
            f"{flag} has an empty item (two commas in a row, or one at an end), got {text!r}; "
            "allowed: numbers separated by commas (e.g. 1.5,2,2.5)"
        )
    try:
        budgets = [float(b) for b in items if b]
    except ValueError:
        raise ExtractError(f"{flag} must be numbers separated by commas (e.g. 1.5,2,2.5), got {text!r}")
    if not budgets or any(not (b > 0 and math.isfinite(b)) for b in budgets):
        raise ExtractError(f"{flag} must be positive finite numbers, got {text!r}")
    twice = sorted({b for b in budgets if budgets.count(b) > 1})
    if twice:
        raise ExtractError(f"{flag} lists {', '.join(f'{b:g}' for b in twice)} more than once, got {text!r}")
    return sorted(budgets)


def budget_request(args: argparse.Namespace) -> tuple[list[float], str | None, str]:
    """(budgets, the unit asked for or None for the table's, the flag used) from --budget/--unit/--budget-ms."""
    if (args.budget is None) == (args.budget_ms is None):
        raise ExtractError(
            "give the latency budget once: --budget X [--unit ms|mmacs|mparams] or --budget-ms X"
        )
    if args.budget_ms is not None:
        return _budgets(args.budget_ms, "--budget-ms"), "ms", "--budget-ms"
    unit = None
    if args.unit is not None:
        unit = UNITS.get(args.unit.lower())
        if unit is None:
            raise ExtractError(f"unknown --unit {args.unit!r}; allowed: {', '.join(UNITS)}")
    return _budgets(args.budget, "--budget"), unit, "--budget"


def check_unit(asked: str | None, flag: str, table_unit: str) -> str:
    """The budget's unit must be the table's: `--budget-ms 4` on a MACs table is refused, not read as 4 MMACs."""
    if asked is None or asked == table_unit:
        return table_unit
    use = "--budget X" + ("" if table_unit == "ms" else f" --unit {table_unit.lower()}")
    raise ExtractError(f"{flag} is in {asked} but the latency table predicts {table_unit}; use {use}")
