"""The torch-cuda timer (CUDA graph replays between CUDA events). It needs a GPU: CI has none, and
experiments/gpu_check.sh runs this file on a lent device (its tests step)."""

import pytest
import torch

from latency._cuda_timer import REPLAYS, cuda_time_ns
from latency.measure import measure_arch_ms
from latency.timing import Timing
from supernet import SearchSpace

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("arch_kind", ["smallest", "largest"])
def test_subnet_is_captured_and_retest_agrees(arch_kind):
    space = SearchSpace.preset("mbv2-small")
    arch = getattr(space, arch_kind)()
    first = measure_arch_ms(space, arch, "torch-cuda", in_chans=1, num_classes=10, timing=Timing(repeats=30))
    again = measure_arch_ms(space, arch, "torch-cuda", in_chans=1, num_classes=10, timing=Timing(repeats=30))
    assert 0 < first < 50
    assert abs(first - again) / first < 0.10  # the eager timer differed by 46.7% (gpu_check.md)


def test_capturable_module_uses_a_graph_and_uncapturable_falls_back():
    conv = torch.nn.Conv2d(3, 8, 3)
    times, mode = cuda_time_ns(conv, torch.randn(1, 3, 32, 32), warmup=2, repeats=5)
    assert mode == "graph" and len(times) == 5 and min(times) > 0

    class HostSync(torch.nn.Module):
        def forward(self, x):
            return x * float(x.sum())  # a host read: not capturable

    times, mode = cuda_time_ns(HostSync(), torch.randn(1, 3, 8, 8), warmup=1, repeats=3)
    assert mode == "eager" and len(times) == 3
    assert REPLAYS >= 10
