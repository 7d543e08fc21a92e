import random

import pytest

import supernet_cli
from latency.table import LatencyTable
from supernet import SearchSpace


def tiny_space() -> SearchSpace:
    """Nine distinct layers: a real build on it takes a couple of seconds."""
    return SearchSpace.from_dict({
        "name": "tiny",
        "resolutions": [16],
        "stem_chs": 8,
        "first_chs": 8,
        "head_chs": 16,
        "stages": [{"base_chs": 8, "stride": 2, "depths": [1, 2], "kernel_sizes": [3], "exp_ratios": [2, 3]}],
    })  # fmt: skip


@pytest.fixture
def space() -> SearchSpace:
    return SearchSpace.preset("mbv2-small")


@pytest.fixture
def fake_table(space) -> LatencyTable:
    """A complete mbv2-small table whose entries are deterministic pseudo-latencies (no timing)."""
    from latency.build import space_layers

    rng = random.Random(0)
    entries = {s.key: rng.uniform(0.01, 0.1) for s in space_layers(space, 3, 10)}
    return LatencyTable("ort-cpu", space, 3, 10, entries=entries, complete=True, metadata={"device": "test"})


def exit_code(argv: list[str]) -> int:
    """`supernet_cli.main(argv)`'s exit status; usage errors (argparse's range checks) exit as the console script does."""
    try:
        return supernet_cli.main(argv)
    except SystemExit as e:
        return e.code
