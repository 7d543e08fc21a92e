"""Stand-alone PyTorch modules for single layers, built exactly as `build_subnet` builds them.

Measuring a layer means timing the very module type, activation and padding the deployed subnet uses;
`tests/latency/test_modules.py` checks each one against the corresponding part of a built subnet.
"""

from __future__ import annotations

import torch
from timm.layers import BatchNormAct2d, SelectAdaptivePool2d, create_conv2d
from torch import nn

from supernet._compat import DepthwiseSeparableConv, InvertedResidual

from .layers import LayerSpec

ACT_LAYER = nn.ReLU6  # the activation `build_subnet` uses


def layer_module(spec: LayerSpec, act_layer: type[nn.Module] = ACT_LAYER) -> nn.Module:
    """A randomly initialised eval-mode module computing exactly `spec` (latency does not depend on values)."""
    if spec.kind == "stem":
        module = nn.Sequential(
            create_conv2d(spec.in_chs, spec.out_chs, spec.kernel_size, stride=spec.stride, padding=""),
            BatchNormAct2d(spec.out_chs, act_layer=act_layer, inplace=True),
        )
    elif spec.kind == "ds":
        module = DepthwiseSeparableConv(
            spec.in_chs,
            spec.out_chs,
            spec.kernel_size,
            spec.stride,
            act_layer=act_layer,
            noskip=not spec.skip,
        )
    elif spec.kind == "mbconv":
        module = InvertedResidual(
            spec.in_chs,
            spec.out_chs,
            spec.kernel_size,
            spec.stride,
            exp_ratio=spec.mid_chs / spec.in_chs,
            act_layer=act_layer,
            noskip=not spec.skip,
        )
    elif spec.kind == "head":
        module = nn.Sequential(
            create_conv2d(spec.in_chs, spec.out_chs, 1, padding=""),
            BatchNormAct2d(spec.out_chs, act_layer=act_layer, inplace=True),
            SelectAdaptivePool2d(pool_type="avg", flatten=True),
            nn.Linear(spec.out_chs, spec.mid_chs),
        )
    else:
        raise ValueError(f"unknown layer kind {spec.kind!r}")
    return module.eval()


def layer_input(spec: LayerSpec, batch: int = 1) -> torch.Tensor:
    return torch.randn(batch, spec.in_chs, spec.in_res, spec.in_res)
