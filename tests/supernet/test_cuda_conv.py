"""supernet/_cuda_conv.py: the plan-free CUDA convolutions equal F.conv2d (values and both gradients).

The functions run on any device, so the comparison runs here on the CPU; on a GPU the same ops take these
paths inside the supernet (ops.py, x.is_cuda), and experiments/gpu_check.sh times them.
"""

import pytest
import torch
import torch.nn.functional as F

from supernet import _cuda_conv
from supernet.ops import DynamicConv2d, DynamicDepthwiseConv2d


def _grads(fn, x, w):
    x, w = x.detach().requires_grad_(), w.detach().requires_grad_()
    y = fn(x, w)
    (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
    return y.detach(), x.grad, w.grad


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("in_chs,out_chs", [(8, 16), (24, 6)])
def test_pointwise_as_matrix_product_equals_conv(channels_last, in_chs, out_chs):
    torch.manual_seed(0)
    x = torch.randn(3, in_chs, 7, 5)
    x = x.to(memory_format=torch.channels_last) if channels_last else x
    w = torch.randn(out_chs + 4, in_chs + 2, 1, 1)[:out_chs, :in_chs]  # a sliced (non-contiguous) weight
    got = _grads(_cuda_conv.pointwise_conv, x, w)
    want = _grads(lambda a, b: F.conv2d(a, b), x, w)
    for g, e in zip(got, want):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)
    if channels_last:  # consecutive 1x1 convolutions need no copy
        assert _cuda_conv.pointwise_conv(x, w).is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("k,stride", [(3, 1), (5, 2), (7, 1), (7, 2)])
def test_native_depthwise_equals_conv(k, stride):
    torch.manual_seed(k + stride)
    x = torch.randn(2, 12, 9, 9).to(memory_format=torch.channels_last)
    w = torch.randn(16, 1, 7, 7)[:12, :, (7 - k) // 2 : (7 + k) // 2, (7 - k) // 2 : (7 + k) // 2]
    got = _grads(lambda a, b: _cuda_conv.depthwise_conv(a, b, stride), x, w)
    want = _grads(lambda a, b: F.conv2d(a, b, None, stride, k // 2, 1, 12), x, w)
    for g, e in zip(got, want):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4)


def test_native_depthwise_gradcheck():
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 1, 5, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: _cuda_conv.depthwise_conv(a, b, 2), (x, w))


def test_native_depthwise_under_autocast_keeps_parameter_dtype():
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    w = torch.randn(4, 1, 3, 3, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = _cuda_conv.depthwise_conv(x, w, 1)
    assert y.dtype == torch.bfloat16
    y.float().sum().backward()
    assert x.grad.dtype == w.grad.dtype == torch.float32
    ref = F.conv2d(x.detach().bfloat16(), w.detach().bfloat16(), None, 1, 1, 1, 4)
    torch.testing.assert_close(y.detach(), ref)


def test_switch_and_cpu_modules_untouched(monkeypatch):
    """SUPERNET_CUDA_CONV=cudnn selects PyTorch's default; CPU tensors never take the CUDA paths."""
    monkeypatch.setenv("SUPERNET_CUDA_CONV", "cudnn")
    assert not _cuda_conv.plan_free()
    monkeypatch.setenv("SUPERNET_CUDA_CONV", "native")
    assert _cuda_conv.plan_free()
    calls = []
    monkeypatch.setattr(_cuda_conv, "pointwise_conv", lambda *a: calls.append("pw"))
    monkeypatch.setattr(_cuda_conv, "depthwise_conv", lambda *a: calls.append("dw"))
    x = torch.randn(1, 4, 5, 5)
    DynamicConv2d(4, 6)(x)
    DynamicDepthwiseConv2d(4, (3, 5))(x)
    assert calls == []


def test_train_says_which_cuda_convolutions_it_uses(monkeypatch):
    """`supernet train`'s first line names the CUDA convolution path (checked without a GPU: the device is
    resolved as CUDA by a stand-in)."""
    from supernet import cli
    from supernet.train import device
    from supernet.train.config import TrainConfig

    monkeypatch.setattr(device, "resolve_device", lambda name: torch.device("cuda"))
    monkeypatch.delenv("SUPERNET_CUDA_CONV", raising=False)
    assert "1x1 as matrix products" in cli._dw_kernel_note(TrainConfig(device="cuda"))
    monkeypatch.setenv("SUPERNET_CUDA_CONV", "cudnn")
    assert "convolutions: cuDNN" in cli._dw_kernel_note(TrainConfig(device="cuda"))
