"""Stand-ins for extraction tests: a small analytic 'latency' (MMACs), a smooth synthetic accuracy, and a
randomly initialised supernet with synthetic images (nothing here needs a trained run)."""

from __future__ import annotations

import math
import random

import pytest
import torch

from extract.export import EvalData
from latency.counts import count_macs_params
from supernet import ArchConfig, ElasticMobileNetV2, Preprocessing, SearchSpace
from supernet.train.data import TensorImageDataset
from supernet.train.evalset import EvalSet


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
    """Random 8-bit 16 px images, read through a preprocessing contract as a run's data would be."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (160, 1, 16, 16), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (160,), generator=g)
    prep = Preprocessing((1, 16, 16), (0.5,), (0.25,), tuple(str(i) for i in range(10)), channel_order="L")
    images = TensorImageDataset(x, y, prep.mean, prep.std)
    calib, val, test = (
        EvalSet(images, prep, range(64)),
        EvalSet(images, prep, range(64, 112)),
        EvalSet(images, prep, range(112, 160)),
    )
    return EvalData("synthetic", prep, calib=calib, val=val, test=test)
