"""Stand-ins for extraction tests: a small analytic 'latency' (MMACs), a smooth synthetic accuracy, and a
randomly initialised supernet with synthetic images (nothing here needs a trained run)."""

from __future__ import annotations

import math
import random

import pytest
import torch

from extract.export import EvalData
from latency.counts import count_macs_params
from supernet import ArchConfig, ElasticMobileNetV2, SearchSpace


@pytest.fixture(scope="session")
def space() -> SearchSpace:
    return SearchSpace.preset("mbv2-small")


@pytest.fixture(scope="session")
def mmacs(space):
    def latency(arch: ArchConfig) -> float:
        return count_macs_params(space, arch, 1, 10)[0] / 1e6

    return latency


@pytest.fixture(scope="session")
def synthetic_accuracy(mmacs):
    """Grows with capacity, with a per-arch wobble of up to 0.002: the shape a real supernet's scores have."""

    def score(arch: ArchConfig) -> float:
        wobble = random.Random(str(arch)).random() * 0.002
        return 1 - 1 / math.log(10 * mmacs(arch)) + 0.01 * arch.resolution / 32 + wobble

    return score


@pytest.fixture(scope="session")
def supernet(space) -> ElasticMobileNetV2:
    torch.manual_seed(0)
    return ElasticMobileNetV2(space, num_classes=10, in_chans=1).eval()


@pytest.fixture(scope="session")
def eval_data() -> EvalData:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(160, 1, 16, 16, generator=g)
    y = torch.randint(0, 10, (160,), generator=g)
    return EvalData("synthetic", x[:64], (x[64:112], y[64:112]), (x[112:], y[112:]), (0.5,), (0.25,))
