"""Elastic ops: each holds the largest weights and runs on a leading slice of them.

Input channels are read from the input itself; output channels and kernel size are set by the
owning block. Parameter names match the stock modules they replace, so a subnet's state is a
plain slice of the supernet's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import BatchNormAct2d
from torch import nn

from . import _cuda_conv
from ._alias import sliced, whole
from ._dwgrad import depthwise_conv2d


class DynamicConv2d(nn.Conv2d):
    """Pointwise conv whose output channels (`active_out_chs`) and input channels (from `x`) shrink."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int = 1, stride: int = 1) -> None:
        super().__init__(in_chs, out_chs, kernel_size, stride, padding=kernel_size // 2, bias=False)
        self.active_out_chs = out_chs

    def active_weight(self, in_chs: int, out_chs: int) -> torch.Tensor:
        if in_chs == self.in_channels and out_chs == self.out_channels:
            return whole(self.weight)
        return sliced(self.weight, (out_chs, in_chs), (slice(0, out_chs), slice(0, in_chs)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.active_weight(x.shape[1], self.active_out_chs)
        if x.is_cuda and self.kernel_size == (1, 1) and self.stride == (1, 1) and _cuda_conv.plan_free():
            return _cuda_conv.pointwise_conv(x, w)  # no cuDNN plan per new shape (_cuda_conv.py)
        return F.conv2d(x, w, None, self.stride, self.padding)


class DynamicDepthwiseConv2d(nn.Conv2d):
    """Depthwise conv with elastic channels (from `x`) and kernel size (`active_kernel_size`).

    A smaller kernel is the centre crop of the largest (BigNAS). With `kernel_transform`, each step down
    (7->5->3) also passes the crop through a learned k²xk² matrix shared by all channels, initialised to
    the identity (OFA's kernel transformation), so small kernels need not equal the centre of large ones.
    """

    def __init__(
        self, chs: int, kernel_sizes: tuple[int, ...], stride: int = 1, kernel_transform: bool = False
    ) -> None:
        max_k = max(kernel_sizes)
        super().__init__(chs, chs, max_k, stride, padding=max_k // 2, groups=chs, bias=False)
        self.kernel_sizes = tuple(sorted(kernel_sizes, reverse=True))
        self.active_kernel_size = max_k
        self.kernel_transform = kernel_transform
        if kernel_transform:
            for k in self.kernel_sizes[1:]:
                self.register_parameter(f"kernel_transform_{k}", nn.Parameter(torch.eye(k * k)))

    def active_weight(self, chs: int, kernel_size: int) -> torch.Tensor:
        if not self.kernel_transform:  # one slice of the weight: channels and the kernel's centre
            if chs == self.out_channels and kernel_size == self.kernel_size[0]:
                return whole(self.weight)
            start = (self.kernel_size[0] - kernel_size) // 2
            crop = slice(start, start + kernel_size)
            return sliced(self.weight, (chs, kernel_size), (slice(0, chs), slice(None), crop, crop))
        w = self.weight if chs == self.out_channels else self.weight[:chs]
        for k in self.kernel_sizes[1:]:
            if k < kernel_size:
                break
            start = (w.shape[-1] - k) // 2
            w = w[:, :, start : start + k, start : start + k]
            if self.kernel_transform:
                matrix = getattr(self, f"kernel_transform_{k}")
                w = (w.reshape(-1, k * k) @ matrix).reshape(chs, 1, k, k)
        return w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chs, k = x.shape[1], self.active_kernel_size
        if x.is_cuda and _cuda_conv.plan_free():
            return _cuda_conv.depthwise_conv(x, self.active_weight(chs, k), self.stride[0])
        return depthwise_conv2d(x, self.active_weight(chs, k), self.stride)


class DynamicBatchNormAct2d(BatchNormAct2d):
    """BatchNorm (+ activation) over the leading `x.shape[1]` channels of its parameters and statistics.

    Running statistics of the slice are updated in place, so fvcore's `update_bn_stats` recalibrates a
    subnet exactly as it would a static model; eval mode uses the (recalibrated) sliced statistics.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chs = x.shape[1]
        if chs == self.num_features:
            whole(self.weight)
            whole(self.bias)
            return super().forward(x)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked)
        x = F.batch_norm(
            x,
            *self._stat_views(chs),
            sliced(self.weight, chs, (slice(0, chs),)),
            sliced(self.bias, chs, (slice(0, chs),)),
            self.training,
            momentum,
            self.eps,
        )
        return self.act(self.drop(x))

    def _stat_views(self, chs: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Views of the leading `chs` running statistics (cached; rebuilt if the buffers moved)."""
        if self.running_mean is None:
            return None, None
        views = self.__dict__.setdefault("_stat_cache", {})
        ptrs = (self.running_mean.data_ptr(), self.running_var.data_ptr())
        hit = views.get(chs)
        if hit is None or hit[0] != ptrs:
            hit = views[chs] = (ptrs, self.running_mean[:chs], self.running_var[:chs])
        return hit[1], hit[2]
