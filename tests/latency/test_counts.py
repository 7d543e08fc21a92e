import random

import pytest

from latency.counts import count_macs_params, fvcore_macs_params
from supernet import ArchError, SearchSpace, build_subnet


@pytest.mark.parametrize("preset,num", [("mbv2-small", 4), ("mbv2-imagenet", 2)])
def test_analytic_counts_equal_fvcore(preset, num):
    space = SearchSpace.preset(preset)
    rng = random.Random(7)
    for arch in [space.smallest(), space.largest(), *(space.sample(rng) for _ in range(num))]:
        macs, params = count_macs_params(space, arch, 3, 10)
        assert (macs, params) == fvcore_macs_params(space, arch, 3, 10), str(arch)
        assert params == sum(p.numel() for p in build_subnet(space, arch, 10, 3).parameters())


def test_counts_grow_with_the_subnet(space):
    small = count_macs_params(space, space.smallest(), 3, 10)
    large = count_macs_params(space, space.largest(), 3, 10)
    assert small[0] < large[0] and small[1] < large[1]


def test_counts_reject_an_arch_outside_the_space(space):
    arch = space.smallest()
    bad = type(arch)(30, arch.width_mults, arch.depths, arch.kernel_sizes, arch.exp_ratios)
    with pytest.raises(ArchError, match="resolution=30"):
        count_macs_params(space, bad, 3, 10)
