import random

import pytest
import torch
from timm.models import EfficientNet

from supernet import ElasticMobileNetV2, SearchSpace, build_subnet, extract_subnet
from supernet.subnet import arch_def

IN_CHANS = {"mbv2-small": 1, "mbv2-imagenet": 3}


def randomized_supernet(name: str, kernel_transform: bool = False) -> ElasticMobileNetV2:
    """Random BN statistics, affine terms and kernel transforms, so parity cannot hold by accident."""
    torch.manual_seed(0)
    model = ElasticMobileNetV2(
        SearchSpace.preset(name), 10, IN_CHANS[name], kernel_transform=kernel_transform
    )
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
        for n, p in model.named_parameters():
            if "kernel_transform" in n:
                p.add_(0.05 * torch.randn_like(p))
    return model.eval()


@pytest.mark.parametrize("name", ["mbv2-small", "mbv2-imagenet"])
def test_extracted_subnet_matches_supernet_for_52_archs(name):
    model = randomized_supernet(name)
    space = model.space
    rng = random.Random(1234)
    archs = [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(50)]
    worst = 0.0
    with torch.no_grad():
        for arch in archs:
            model.set_active(arch)
            subnet = extract_subnet(model, arch)
            assert isinstance(subnet, EfficientNet) and not subnet.training
            x = torch.randn(2, IN_CHANS[name], arch.resolution, arch.resolution)
            worst = max(worst, (model(x) - subnet(x)).abs().max().item())
    assert worst <= 1e-5


def test_parity_with_kernel_transform_and_in_train_mode():
    model = randomized_supernet("mbv2-small", kernel_transform=True)
    space = model.space
    rng = random.Random(7)
    for arch in [space.smallest(), space.largest(), space.sample(rng), space.sample(rng)]:
        model.eval().set_active(arch)
        subnet = extract_subnet(model, arch)
        x = torch.randn(4, 1, arch.resolution, arch.resolution)
        with torch.no_grad():
            torch.testing.assert_close(subnet(x), model(x), atol=1e-5, rtol=0)
        # train mode (batch statistics) and gradients agree too
        model.train()
        subnet.train()
        model.zero_grad()
        model(x).square().sum().backward()
        subnet(x).square().sum().backward()
        w_super = model.blocks[2][0].conv_pw.weight.grad
        w_sub = subnet.blocks[2][0].conv_pw.weight.grad
        torch.testing.assert_close(w_super[: w_sub.shape[0], : w_sub.shape[1]], w_sub, atol=1e-4, rtol=1e-4)


def test_subnet_is_a_stock_timm_model_from_block_strings():
    space = SearchSpace.preset("mbv2-small")
    arch = space.sample(random.Random(3))
    strings = arch_def(space, arch)
    assert strings[0] == [f"ds_r1_k3_s1_c{space.first_chs}"]
    assert len(strings) == len(space.stages) + 1
    assert all(len(s) == d for s, d in zip(strings[1:], arch.depths))
    subnet = build_subnet(space, arch, num_classes=10, in_chans=1)
    assert subnet.num_features == space.head_chs
    n_blocks = sum(len(stage) for stage in subnet.blocks)
    assert n_blocks == 1 + sum(arch.depths)
    # its weights round-trip through a plain state dict into a freshly built model
    clone = build_subnet(space, arch, num_classes=10, in_chans=1)
    clone.load_state_dict(extract_subnet(ElasticMobileNetV2(space, 10, 1), arch).state_dict())
