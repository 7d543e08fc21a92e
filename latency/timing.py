"""How a latency is timed: warm-up runs, timed runs, the statistic kept of them, and intra-op threads.

One frozen, validated value replaces the four knobs every timing function used to take one by one;
`build`, `validate`, `kit` and `extract` build one `Timing` from their options, and the timers in
`latency.measure` read it. Invalid values are refused on construction with one line naming the option.
No torch here: the command line and the table reader import this module.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from supernet.checks import check_int

from .errors import OptionError, TargetError

STATS = ("median", "min", "p90", "p99")  # the statistics a table may keep (docs/latency.md says which when)
DEFAULT_STAT = "median"


def check_stat(stat: str) -> None:
    if stat not in STATS:
        raise TargetError(f"timing statistic {stat!r} is unknown; allowed: {', '.join(STATS)}")


@dataclass(frozen=True)
class Timing:
    """`warmup` untimed runs, then `repeats` timed runs of which `stat` is kept, on `threads` intra-op threads.

    `stat`: `median` (the typical latency), `p90`/`p99` (tail latency, for serving) or `min` (a lower
    bound; the steadiest on a shared machine). Whole subnets are timed with `subnet()` (twice the runs:
    they are longer and the fit rests on few of them).
    """

    warmup: int = 10
    repeats: int = 50
    stat: str = DEFAULT_STAT
    threads: int = 1

    def __post_init__(self) -> None:
        check_int("--warmup", self.warmup, lo=0, error=OptionError)
        check_int("--repeats", self.repeats, lo=1, error=OptionError)
        check_int("--threads", self.threads, lo=1, error=OptionError)
        check_stat(self.stat)

    def subnet(self) -> Timing:
        """The timing of a whole subnet in a table's end-to-end fit: twice the repeats of a layer."""
        return replace(self, repeats=2 * self.repeats)


DEFAULT_TIMING = Timing()  # frozen, so one shared default is safe
