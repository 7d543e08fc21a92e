import random

import pytest
import torch

from latency.layers import arch_layers
from latency.modules import layer_input, layer_module
from supernet import SearchSpace, build_subnet


def subnet_parts(model) -> list[torch.nn.Module]:
    """The extracted subnet cut at the same boundaries as `arch_layers`."""
    stem = torch.nn.Sequential(model.conv_stem, model.bn1)
    head = torch.nn.Sequential(model.conv_head, model.bn2, model.global_pool, model.classifier)
    return [stem, *(block for stage in model.blocks for block in stage), head]


@pytest.mark.parametrize("preset", ["mbv2-small", "mbv2-imagenet"])
def test_layer_modules_are_the_subnet_modules(preset):
    space = SearchSpace.preset(preset)
    rng = random.Random(3)
    for arch in [space.smallest(), space.largest(), *(space.sample(rng) for _ in range(3))]:
        model = build_subnet(space, arch, num_classes=10, in_chans=3)
        parts = subnet_parts(model)
        specs = arch_layers(space, arch, 3, 10)
        assert len(parts) == len(specs)
        for spec, part in zip(specs, parts):
            assert repr(layer_module(spec)) == repr(part), spec.key
            assert sum(p.numel() for p in layer_module(spec).parameters()) == sum(
                p.numel() for p in part.parameters()
            )


def test_chained_layer_modules_compute_the_subnet(space):
    """Loading the subnet's weights into the per-layer modules and chaining them gives its output."""
    arch = space.sample(random.Random(1))
    model = build_subnet(space, arch, num_classes=10, in_chans=3).eval()
    x = torch.randn(2, 3, arch.resolution, arch.resolution)
    y = x
    for spec, part in zip(arch_layers(space, arch, 3, 10), subnet_parts(model)):
        module = layer_module(spec)
        module.load_state_dict(part.state_dict())
        assert layer_input(spec, 2).shape == y.shape
        y = module(y)
    torch.testing.assert_close(y, model(x))
