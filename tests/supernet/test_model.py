import random

import pytest
import timm
import torch

from supernet import ArchError, ElasticMobileNetV2, SearchSpace
from supernet.ops import DynamicBatchNormAct2d, DynamicDepthwiseConv2d


def test_largest_subnet_names_match_timm_mobilenetv2():
    supernet = ElasticMobileNetV2(SearchSpace.preset("mbv2-imagenet"), num_classes=1000)
    reference = timm.create_model("mobilenetv2_100", pretrained=False)
    ours = supernet.state_dict()
    missing = [k for k in reference.state_dict() if k not in ours]
    assert not missing
    # shapes agree wherever the widths agree (stem, first block, head, classifier)
    for key in ("conv_stem.weight", "blocks.0.0.conv_dw.weight", "bn2.running_var", "classifier.weight"):
        assert ours[key].shape == reference.state_dict()[key].shape


def test_zero_gamma_on_always_residual_blocks():
    model = ElasticMobileNetV2(SearchSpace.preset("mbv2-small"), 10, 1)
    model.zero_init_last()
    blocks = model.elastic_blocks()
    residual = [b for b in blocks if b.always_residual]
    assert residual and len(residual) < len(blocks)
    assert all(torch.all(b.bn3.weight == 0) for b in residual)
    assert all(torch.any(b.bn3.weight != 0) for b in blocks if not b.always_residual)
    # a zero-gamma residual block is the identity at init
    model.eval()
    x = torch.randn(2, residual[0].conv_pw.in_channels, 8, 8)
    torch.testing.assert_close(residual[0](x), x)


def test_set_active_rejects_arch_outside_space():
    space = SearchSpace.preset("mbv2-small")
    model = ElasticMobileNetV2(space, 10, 1)
    bad = type(space.smallest())(**{**space.smallest().to_dict(), "resolution": 64})
    with pytest.raises(ArchError, match="resolution=64"):
        model.set_active(bad)


def test_dynamic_bn_updates_only_its_slice_and_works_in_eval():
    bn = DynamicBatchNormAct2d(8, act_layer=torch.nn.Identity)
    x = torch.randn(16, 5, 4, 4) * 3 + 2
    bn.train()(x)
    assert torch.allclose(bn.running_mean[:5], 0.1 * x.mean((0, 2, 3)), atol=1e-5)
    assert torch.all(bn.running_mean[5:] == 0) and torch.all(bn.running_var[5:] == 1)
    y = bn.eval()(x)
    expected = (x - bn.running_mean[:5, None, None]) / torch.sqrt(bn.running_var[:5, None, None] + bn.eps)
    torch.testing.assert_close(y, expected)


def test_kernel_is_centre_crop_and_transform_starts_as_identity():
    conv = DynamicDepthwiseConv2d(4, (3, 5, 7))
    w7 = conv.weight
    torch.testing.assert_close(conv.active_weight(4, 5), w7[:, :, 1:6, 1:6])
    torch.testing.assert_close(conv.active_weight(2, 3), w7[:2, :, 2:5, 2:5])
    transformed = DynamicDepthwiseConv2d(4, (3, 5, 7), kernel_transform=True)
    transformed.weight.data.copy_(w7)
    torch.testing.assert_close(transformed.active_weight(4, 3), w7[:, :, 2:5, 2:5])
    with torch.no_grad():
        transformed.kernel_transform_3.mul_(2.0)
    torch.testing.assert_close(transformed.active_weight(4, 3), 2 * w7[:, :, 2:5, 2:5])


def test_dropout_only_when_regularized():
    space = SearchSpace.preset("mbv2-small")
    model = ElasticMobileNetV2(space, 10, 1, drop_rate=0.5).train()
    x = torch.randn(4, 1, 32, 32)
    model.eval()
    model.set_active(space.largest(), regularize=True)
    torch.testing.assert_close(model(x), model(x))  # eval: dropout off even when regularized
    model.train()
    torch.manual_seed(0)
    b = model(x)
    torch.manual_seed(1)
    c = model(x)
    assert not torch.allclose(b, c)
    model.set_active(space.largest(), regularize=False)
    torch.manual_seed(0)
    d = model(x)
    torch.manual_seed(1)
    torch.testing.assert_close(d, model(x))


def test_every_subnet_runs_forward_and_backward():
    space = SearchSpace.preset("mbv2-small")
    model = ElasticMobileNetV2(space, 10, 1).train()
    rng = random.Random(0)
    for arch in [space.smallest(), space.largest(), space.sample(rng)]:
        model.set_active(arch)
        x = torch.randn(2, 1, arch.resolution, arch.resolution)
        out = model(x)
        assert out.shape == (2, 10)
        out.sum().backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert not unused  # the largest subnet touches every weight
