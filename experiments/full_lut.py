"""The ort-cpu latency table of an issue-11 run (experiments/fashion_mnist_full.py): reusing one built
earlier on this machine, and the load it was built under, for the report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latency.table import LatencyTable  # noqa: E402
from supernet import SearchSpace  # noqa: E402
from supernet.files import write_json  # noqa: E402


def copy_lut(src: Path, dst: Path, want: SearchSpace) -> dict:
    """Reuse a complete ort-cpu table of this space built on this machine (e.g. a committed, validated one)
    instead of building it again: the latency table does not depend on the trained weights."""
    table = LatencyTable.load(src)
    problems = [
        f"{name} {got!r} (need {need!r})"
        for name, got, need in [
            ("target", table.target, "ort-cpu"),
            ("space", table.space_fingerprint, want.fingerprint()),
            ("in_chans", table.in_chans, 1),
            ("num_classes", table.num_classes, 10),
        ]
        if got != need
    ]
    if problems:
        sys.exit(f"error: --lut-from {src}: {', '.join(problems)}")
    write_json(dst, json.loads(src.read_text()))
    return table.metadata


def table_load(meta: dict) -> str:
    """The machine's load when a table's build started, as its metadata records it."""
    return f"load {meta['load_avg_start']:.2f} at start (built {meta['date']})"
