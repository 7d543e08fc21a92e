"""The elastic inverted-residual (MBConv) block, named like timm's `InvertedResidual`."""

from __future__ import annotations

import torch
from timm.layers import DropPath, make_divisible
from torch import nn

from .ops import DynamicBatchNormAct2d, DynamicConv2d, DynamicDepthwiseConv2d


class ElasticInvertedResidual(nn.Module):
    """1x1 expand -> kxk depthwise -> 1x1 project, each elastic.

    The expanded width is `make_divisible(in_chs * exp_ratio)` of the *active* input, exactly as timm's
    `InvertedResidual` computes it, so the extracted block has the same shapes. The skip is used when
    the active input and output widths match at stride 1, again as timm decides it.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_sizes: tuple[int, ...],
        exp_ratios: tuple[float, ...],
        stride: int = 1,
        act_layer: type[nn.Module] = nn.ReLU6,
        drop_path_rate: float = 0.0,
        kernel_transform: bool = False,
    ) -> None:
        super().__init__()
        mid_chs = make_divisible(in_chs * max(exp_ratios))
        self.stride = stride
        self.active_exp_ratio = max(exp_ratios)
        self.conv_pw = DynamicConv2d(in_chs, mid_chs)
        self.bn1 = DynamicBatchNormAct2d(mid_chs, act_layer=act_layer)
        self.conv_dw = DynamicDepthwiseConv2d(mid_chs, kernel_sizes, stride, kernel_transform)
        self.bn2 = DynamicBatchNormAct2d(mid_chs, act_layer=act_layer)
        self.conv_pwl = DynamicConv2d(mid_chs, out_chs)
        self.bn3 = DynamicBatchNormAct2d(out_chs, apply_act=False)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate else nn.Identity()
        self.drop_path_active = False

    @property
    def always_residual(self) -> bool:
        """True when every subnet uses the skip: stride 1 and equal max widths (non-first stage blocks)."""
        return self.stride == 1 and self.conv_pw.in_channels == self.conv_pwl.out_channels

    def set_active(self, out_chs: int, kernel_size: int, exp_ratio: float) -> None:
        self.conv_pwl.active_out_chs = out_chs
        self.conv_dw.active_kernel_size = kernel_size
        self.active_exp_ratio = exp_ratio

    def zero_init_last(self) -> None:
        """Zero-gamma: the block starts as identity, which BigNAS needs for stable sandwich training."""
        nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        in_chs = x.shape[1]
        self.conv_pw.active_out_chs = make_divisible(in_chs * self.active_exp_ratio)
        shortcut = x
        x = self.bn1(self.conv_pw(x))
        x = self.bn2(self.conv_dw(x))
        x = self.bn3(self.conv_pwl(x))
        if self.stride == 1 and in_chs == x.shape[1]:
            if self.drop_path_active:
                x = self.drop_path(x)
            x = x + shortcut
        return x
