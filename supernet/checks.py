"""One set of numeric range checks, for options and config fields alike: right type, finite, in range.

`check_int`/`check_float` return the value or raise the given error with one line naming the option,
the bad value and the allowed range. `int_arg`/`float_arg` wrap them as argparse `type=` callables, so a
command line is refused with the same words before any work starts.
"""

from __future__ import annotations

import argparse
import math

from .errors import SupernetError

# Seeds feed torch (< 2**64), numpy (< 2**128) and derived seeds (seed * 1000 + rank): keep them modest.
MAX_SEED = 2**32 - 1


def _n(x) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _range(lo, hi, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{_n(lo)}, {_n(hi)}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {_n(lo)}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {_n(hi)}"
    return "finite"


def check_int(
    name: str, value, *, lo: int | None = None, hi: int | None = None, error: type[Exception] = SupernetError
) -> int:
    """`value` if it is an integer (not a bool or float) within [lo, hi]; else `error` naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{name} must be an integer {_range(lo, hi, False, False)}, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise error(f"{name} must be an integer {_range(lo, hi, False, False)}, got {value}")
    return value


def check_float(
    name: str,
    value,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    error: type[Exception] = SupernetError,
) -> float:
    """`value` as a float if it is a finite number within the range (open ends with `lo_open`/`hi_open`)."""
    bounds = _range(lo, hi, lo_open, hi_open)
    allowed = "finite" if bounds == "finite" else f"{bounds} and finite"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(f"{name} must be a number {allowed}, got {value!r}")
    value = float(value)
    ok = math.isfinite(value)
    ok = ok and (lo is None or (value > lo if lo_open else value >= lo))
    ok = ok and (hi is None or (value < hi if hi_open else value <= hi))
    if not ok:
        raise error(f"{name} must be {allowed}, got {value:g}")
    return value


def int_arg(lo: int | None = None, hi: int | None = None):
    """argparse `type=`: an integer in [lo, hi]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be an integer {_range(lo, hi, False, False)}, got {text!r}"
            )
        try:
            return check_int("value", value, lo=lo, hi=hi)
        except SupernetError as e:
            raise argparse.ArgumentTypeError(str(e).removeprefix("value "))

    parse.__name__ = "int"
    return parse


def float_arg(
    lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False
):
    """argparse `type=`: a finite number in the range."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be a number {_range(lo, hi, lo_open, hi_open)}, got {text!r}"
            )
        try:
            return check_float("value", value, lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open)
        except SupernetError as e:
            raise argparse.ArgumentTypeError(str(e).removeprefix("value "))

    parse.__name__ = "float"
    return parse
