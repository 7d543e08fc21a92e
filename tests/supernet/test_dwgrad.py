"""The C weight gradient of depthwise convolutions against PyTorch's own, over many shapes."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from supernet import _dwgrad
from supernet._dwgrad import depthwise_conv2d, kernel_available, use_kernel, weight_grad
from supernet.ops import DynamicDepthwiseConv2d

needs_cc = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler on this machine"
)


def torch_weight_grad(x, grad_out, k, s):
    w = torch.zeros(x.shape[1], 1, k, k)
    return torch.ops.aten.convolution_backward(
        grad_out, x, w, None, [s, s], [k // 2] * 2, [1, 1], False, [0, 0], x.shape[1], [False, True, False]
    )[1]


@needs_cc
def test_compiles_on_a_machine_with_a_compiler():
    assert kernel_available()


# (batch, channels, height, width, kernel, stride): full and short channel blocks (16 per block), odd and
# even and non-square planes, planes smaller than the kernel, stride 2 on odd and even sizes.
SHAPES = [
    (2, 16, 8, 8, 7, 1),
    (3, 24, 9, 7, 7, 2),
    (1, 40, 16, 16, 5, 1),
    (2, 8, 5, 6, 5, 2),
    (2, 33, 3, 3, 7, 1),
    (1, 48, 12, 10, 3, 1),
    (4, 20, 7, 7, 3, 2),
    (1, 1, 4, 4, 5, 1),
    (2, 96, 2, 1, 7, 2),
]


@needs_cc
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("threads", [1, 3])
def test_weight_grad_equals_pytorch(shape, threads, monkeypatch):
    n, c, h, w, k, s = shape
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    g = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(n, c, h, w, generator=g).contiguous(memory_format=torch.channels_last)
    grad_out = torch.randn(n, c, (h - 1) // s + 1, (w - 1) // s + 1, generator=g)
    got, want = weight_grad(x, grad_out, k, s), torch_weight_grad(x, grad_out, k, s)
    assert got.shape == want.shape == (c, 1, k, k)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


@needs_cc
def test_weight_grad_is_the_same_for_any_thread_count(monkeypatch):
    x, grad_out = torch.randn(3, 70, 11, 11), torch.randn(3, 70, 11, 11)
    results = []
    for threads in (1, 2, 5):
        monkeypatch.setattr(torch, "get_num_threads", lambda t=threads: t)
        results.append(weight_grad(x, grad_out, 7, 1))
    assert all(torch.equal(results[0], r) for r in results[1:])


@needs_cc
@pytest.mark.parametrize("k,stride", [(5, 1), (7, 2), (7, (1, 1))])
@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("hw", [(10, 10), (3, 5)])  # (3, 5): a plane smaller than the kernel
def test_conv_output_and_both_gradients_equal_the_stock_path(k, stride, channels_last, hw):
    x = torch.randn(2, 24, *hw)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.randn(24, 1, k, k)
    runs = []
    for enabled in (True, False):
        xi, wi = x.clone().requires_grad_(), weight.clone().requires_grad_()
        with use_kernel(enabled):
            y = depthwise_conv2d(xi, wi, stride)
        assert ("_DepthwiseConv2d" in type(y.grad_fn).__name__) == enabled
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        runs.append((y, xi.grad, wi.grad))
    for got, want in zip(*runs):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


@needs_cc
@pytest.mark.filterwarnings("ignore:Input #:UserWarning")  # float32: the kernel has no float64
@pytest.mark.parametrize("stride", [1, 2])
def test_gradcheck(stride):
    x = torch.randn(2, 17, 6, 5, dtype=torch.float32, requires_grad=True)
    w = torch.randn(17, 1, 5, 5, dtype=torch.float32, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: _dwgrad._DepthwiseConv2d.apply(a, b, stride), (x, w), eps=1e-2, atol=2e-2, rtol=1e-2
    )


@needs_cc
@pytest.mark.parametrize("kernel_transform", [False, True])
@pytest.mark.parametrize("active", [7, 5, 3])
def test_elastic_depthwise_gradients_match_with_the_kernel_on_and_off(kernel_transform, active):
    torch.manual_seed(0)
    conv = DynamicDepthwiseConv2d(32, (3, 5, 7), stride=1, kernel_transform=kernel_transform)
    conv.active_kernel_size = active
    x = torch.randn(3, 24, 9, 9).contiguous(memory_format=torch.channels_last)  # 24 of 32 channels
    grads = []
    for enabled in (True, False):
        conv.zero_grad()
        with use_kernel(enabled):
            conv(x).square().sum().backward()
        grads.append({n: p.grad.clone() for n, p in conv.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and grads[0]["weight"][24:].abs().sum() == 0
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    "case",
    ["no_grad", "kernel_3", "float64", "autocast", "weight_frozen", "disabled"],
)
def test_stock_path_where_the_kernel_does_not_apply(case):
    k = 3 if case == "kernel_3" else 7
    dtype = torch.float64 if case == "float64" else torch.float32
    x = torch.randn(1, 16, 6, 6, dtype=dtype)
    w = torch.randn(16, 1, k, k, dtype=dtype, requires_grad=case != "weight_frozen")
    ctx = {
        "no_grad": torch.no_grad(),
        "autocast": torch.autocast("cpu", dtype=torch.bfloat16),
        "disabled": use_kernel(False),
    }.get(case, torch.enable_grad())
    with ctx:
        y = depthwise_conv2d(x, w, 1)
    assert y.grad_fn is None or "_DepthwiseConv2d" not in type(y.grad_fn).__name__
    torch.testing.assert_close(
        y.float(), F.conv2d(x, w, None, 1, k // 2, 1, 16).float(), rtol=2e-2, atol=5e-2
    )


def test_falls_back_to_pytorch_without_a_working_compiler(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("SUPERNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(_dwgrad, "_state", {"enabled": True})
    assert not kernel_available()
    assert "using PyTorch's kernel" in caplog.text
    x, w = torch.randn(1, 16, 6, 6), torch.randn(16, 1, 7, 7, requires_grad=True)
    y = depthwise_conv2d(x, w, 1)
    assert "_DepthwiseConv2d" not in type(y.grad_fn).__name__
    y.sum().backward()
    torch.testing.assert_close(w.grad, torch_weight_grad(x, torch.ones_like(y), 7, 1))


def test_an_unusable_cache_home_falls_back_to_the_temporary_directory(monkeypatch, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.delenv("SUPERNET_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file" / "cache"))  # mkdir fails, even as root
    got = _dwgrad._cache_dir()
    assert got.parent == Path(tempfile.gettempdir()) and got.name.startswith("supernet-")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "ok"))
    assert _dwgrad._cache_dir() == tmp_path / "ok" / "supernet"


@pytest.mark.parametrize(
    "name, value", [("SUPERNET_DW_GRAD", "bogus"), ("SUPERNET_DW_GRAD", ""), ("SUPERNET_CUDA_CONV", "cuDNN")]
)
def test_a_kernel_switch_with_another_value_is_refused_before_anything_starts(
    monkeypatch, tmp_path, capsys, name, value
):
    from supernet_cli import main

    monkeypatch.setenv(name, value)
    assert main(["train", "--epochs", "1", "--dataset", "synthetic", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"supernet train: error: {name}={value!r}: expected "
        + (
            "'c' (the default) or 'torch'"
            if name == "SUPERNET_DW_GRAD"
            else "'native' (the default) or 'cudnn'"
        )
    ]
    assert not (tmp_path / "run").exists()
