"""Sliced weights as aliasing leaves (`supernet/_alias.py`) give exactly plain slicing's training."""

import os
import subprocess
import sys

import pytest
import torch

from supernet import ElasticMobileNetV2, SearchSpace, _alias
from supernet.train.sandwich import sandwich_backward, step_archs


def train(on: bool, *, kernel_transform: bool, fmt, sandwich: bool, steps: int = 3, device: str = "cpu"):
    """Gradients of every step and the final state of a few SGD steps, aliasing leaves on or off."""
    space = SearchSpace.preset("mbv2-small")
    torch.manual_seed(0)
    model = ElasticMobileNetV2(space, 10, 1, kernel_transform=kernel_transform)
    model = model.to(device, memory_format=fmt).train()
    model.zero_init_last()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(8, 1, 32, 32).contiguous(memory_format=fmt).to(device)
    y = torch.randint(0, 10, (8,)).to(device)
    grads = []
    with _alias.aliasing(on):
        for step in range(steps):
            opt.zero_grad(set_to_none=True)
            archs = step_archs(space, seed=0, step=step, num_random=2, sandwich=sandwich)
            sandwich_backward(model, x, y, archs, inplace_distill=step % 2 == 1)
            grads.append({n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()})
            opt.step()
    return grads, model.state_dict()


@pytest.mark.parametrize(
    "kernel_transform, fmt, sandwich",
    [
        (False, torch.channels_last, True),
        (False, torch.contiguous_format, True),
        (True, torch.channels_last, True),
        (False, torch.channels_last, False),
    ],
)
def test_gradients_and_weights_equal_plain_slicing(kernel_transform, fmt, sandwich):
    grads_a, state_a = train(True, kernel_transform=kernel_transform, fmt=fmt, sandwich=sandwich)
    grads_b, state_b = train(False, kernel_transform=kernel_transform, fmt=fmt, sandwich=sandwich)
    for step_a, step_b in zip(grads_a, grads_b):
        assert step_a.keys() == step_b.keys()
        for name in step_a:
            a, b = step_a[name], step_b[name]
            assert (a is None) == (b is None), name  # an unused parameter keeps grad=None either way
            if a is not None:
                assert torch.equal(a, b), name  # bit-identical: the same sums in the same order
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key
    if not sandwich:  # random subnets only: some parameters go untouched, and stay None
        assert any(g is None for step in grads_a for g in step.values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (run by experiments/gpu_check.sh)")
def test_gradients_and_weights_match_plain_slicing_on_cuda():
    """On a GPU (plan-free convolutions, `_cuda_conv.py`): equal up to the kernels' own nondeterminism."""
    setting = dict(kernel_transform=False, fmt=torch.channels_last, sandwich=True, device="cuda")
    grads_a, state_a = train(True, **setting)
    grads_b, state_b = train(False, **setting)
    for step_a, step_b in zip(grads_a, grads_b):
        for name in step_a:
            assert (step_a[name] is None) == (step_b[name] is None), name
            if step_a[name] is not None:
                torch.testing.assert_close(step_a[name], step_b[name], rtol=1e-4, atol=1e-5)
    for key in state_a:
        torch.testing.assert_close(state_a[key], state_b[key], rtol=1e-4, atol=1e-5)


def small_model():
    space = SearchSpace.preset("mbv2-small")
    model = ElasticMobileNetV2(space, 10, 1).train()
    model.set_active(space.smallest())
    return model, torch.randn(4, 1, space.smallest().resolution, space.smallest().resolution)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_no_grad_and_tracing_leave_gradients_alone():
    model, x = small_model()
    with _alias.aliasing(True):
        with torch.no_grad():
            model(x)
        assert all(p.grad is None for p in model.parameters())
        model.eval()
        torch.jit.trace(model, x, check_trace=False)  # fvcore's counters trace the model
    assert all(p.grad is None for p in model.parameters())


def test_gradients_land_in_the_full_tensor_and_follow_replacements():
    model, x = small_model()
    conv = model.blocks[1][0].conv_pw
    with _alias.aliasing(True):
        model(x).sum().backward()
        kept = conv.weight.grad
        assert kept is not None and kept.shape == conv.weight.shape
        first = kept.clone()
        assert first.abs().sum() > 0
        model(x).sum().backward()  # accumulates in place, as autograd does into an existing .grad
        assert conv.weight.grad is kept
        torch.testing.assert_close(kept, 2 * first)
        conv.weight.grad = None  # zero_grad(set_to_none=True): the kept tensor is zeroed and reused
        model(x).sum().backward()
        assert conv.weight.grad is kept
        torch.testing.assert_close(kept, first)
        outside = torch.ones_like(conv.weight)  # a gradient set from outside (e.g. an all-reduce) is adopted
        conv.weight.grad = outside
        model(x).sum().backward()
        assert conv.weight.grad is outside
        torch.testing.assert_close(outside, 1 + first)


def test_parameters_moved_to_new_memory_get_new_leaves():
    model, x = small_model()
    with _alias.aliasing(True):
        model(x).sum().backward()
        conv = model.blocks[1][0].conv_pw
        conv.weight.data = torch.zeros_like(conv.weight)  # new memory: old leaves must not be used
        model.zero_grad(set_to_none=True)
        out = model(x)
        with _alias.aliasing(False):
            ref = model(x)
        torch.testing.assert_close(out, ref)
        model.double()
        model(x.double()).sum().backward()
        assert all(p.grad is None or p.grad.dtype == torch.float64 for p in model.parameters())


def test_off_in_a_library_on_where_the_project_trains():
    """Importing the package slices under autograd (parameter hooks and DDP see every gradient);
    `for_training()` (supernet train, its ranks, Ray workers, Tune trials) turns the leaves on."""
    code = "import supernet._alias as a; print(a._ALIAS)"
    for value, expected in ((None, "False"), ("alias", "True"), ("autograd", "False")):
        env = {k: v for k, v in os.environ.items() if k != "SUPERNET_SLICE"}
        if value is not None:
            env["SUPERNET_SLICE"] = value
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == expected, value
    model, x = small_model()
    with _alias.aliasing(False):
        model(x).sum().backward()
    assert not any("_supernet_slices" in p.__dict__ for p in model.parameters())
    saved, previous = os.environ.pop("SUPERNET_SLICE", None), _alias.use_alias(False)
    try:
        assert _alias.for_training() == ""
        assert os.environ["SUPERNET_SLICE"] == "alias" and _alias.use_alias(False) is True  # ranks inherit it
    finally:
        os.environ.pop("SUPERNET_SLICE", None)
        if saved is not None:
            os.environ["SUPERNET_SLICE"] = saved
        _alias.use_alias(previous)
