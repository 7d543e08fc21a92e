"""The supernet's in-place ReLU6 (saves its output) against PyTorch's own."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from supernet import ElasticMobileNetV2, SearchSpace, extract_subnet
from supernet.ops import ReLU6


@pytest.mark.parametrize("inplace", [True, False])
def test_output_and_gradient_equal_stock_relu6_including_the_edges(inplace):
    base = torch.tensor([-1.0, 0.0, 0.5, 6.0, 7.0, 3.0]).repeat(4, 1).reshape(2, 3, 2, 2)
    base = base + torch.randn_like(base) * (torch.rand_like(base) > 0.5)  # exact 0 and 6 stay in half
    outs = []
    for act in (ReLU6(inplace=inplace), nn.ReLU6(inplace=inplace)):
        w = torch.randn_like(base, generator=torch.Generator().manual_seed(0))
        leaf = base.clone().requires_grad_()
        x = leaf * 1.0  # not a leaf: in-place is allowed
        y = act(x)
        (y * w).sum().backward()
        outs.append((y.detach(), leaf.grad))
        if inplace:
            assert y.data_ptr() == x.data_ptr()
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


def test_saved_output_is_used_without_a_copy():
    x = torch.randn(2, 4, 3, 3, requires_grad=True) * 4
    y = ReLU6(inplace=True)(x)
    assert "_ReLU6Inplace" in type(y.grad_fn).__name__
    with torch.no_grad():
        assert ReLU6(inplace=True)(x.detach().clone()).grad_fn is None


def test_supernet_trains_with_it_and_subnets_get_the_stock_class():
    space = SearchSpace.preset("mbv2-small")
    model = ElasticMobileNetV2(space, num_classes=10, in_chans=1)
    acts = [m for m in model.modules() if isinstance(m, nn.ReLU6)]
    assert acts and all(type(m) is ReLU6 for m in acts)
    sub = extract_subnet(model, space.smallest())
    sub_acts = [m for m in sub.modules() if isinstance(m, nn.ReLU6)]
    assert sub_acts and all(type(m) is nn.ReLU6 for m in sub_acts)
