"""The elastic convolutions on CUDA without cuDNN's per-shape execution plans.

cuDNN (v8+ API, as PyTorch calls it) builds an execution plan the first time it sees a convolution shape
and caches it. A static network has a few dozen shapes, so this is paid once. A supernet step trains
random subnets, whose widths, kernels and resolutions make new shapes nearly every step, so nearly every
step built plans (measured on an H200: docs/training.md, "training on a GPU"). Two ops avoid cuDNN for
the supernet's varying layers:

- pointwise (1x1, stride 1) convolutions as one matrix product over all pixels: `F.linear` on the
  channels-last view, which cuBLAS runs with no per-shape set-up (the output keeps the channels-last
  strides, so consecutive 1x1 convolutions never copy);
- depthwise convolutions through PyTorch's own CUDA depthwise kernels (forward and both gradients), with
  cuDNN switched off around them only.

`SUPERNET_CUDA_CONV=cudnn` restores PyTorch's default selection (e.g. to time both side by side). CPU
tensors never take these paths in training (`ops.py` checks `x.is_cuda`); the functions themselves run
on any device, which is how the tests compare them with `F.conv2d`.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F


def plan_free() -> bool:
    """True unless SUPERNET_CUDA_CONV=cudnn (read at each call, so a benchmark can switch per round)."""
    return os.environ.get("SUPERNET_CUDA_CONV", "native") != "cudnn"


def pointwise_conv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """`F.conv2d(x, weight)` for a (out, in, 1, 1) weight and stride 1, as a matrix product."""
    return F.linear(x.permute(0, 2, 3, 1), weight.flatten(1)).permute(0, 3, 1, 2)


def _autocast_dtype(x: torch.Tensor) -> torch.dtype:
    kind = x.device.type
    return torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else x.dtype


class _NativeDepthwise(torch.autograd.Function):
    """Depthwise convolution whose forward and backward run with cuDNN off (autocast applied by hand:
    inputs are cast once here, so the saved tensors and the gradient kernels share one dtype)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
        dtype = _autocast_dtype(x)
        xc, wc = x.to(dtype), weight.to(dtype)
        ctx.save_for_backward(xc, wc)
        ctx.stride, ctx.dtypes = stride, (x.dtype, weight.dtype)
        k = weight.shape[-1]
        with torch.autocast(x.device.type, enabled=False), torch.backends.cudnn.flags(enabled=False):
            return F.conv2d(xc, wc, None, stride, k // 2, 1, x.shape[1])

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        xc, wc = ctx.saved_tensors
        k, s = wc.shape[-1], ctx.stride
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], False]
        with torch.backends.cudnn.flags(enabled=False):
            gx, gw, _ = torch.ops.aten.convolution_backward(
                grad_out.to(wc.dtype), xc, wc, None, [s, s], [k // 2] * 2, [1, 1], False, [0, 0], xc.shape[1], mask
            )  # fmt: skip
        gx = gx.to(ctx.dtypes[0]) if mask[0] else None
        gw = gw.to(ctx.dtypes[1]) if mask[1] else None
        return gx, gw, None


def depthwise_conv(x: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
    """`F.conv2d(x, weight, None, stride, k // 2, 1, groups=C)` on PyTorch's own depthwise kernels."""
    return _NativeDepthwise.apply(x, weight, stride)
