"""What weight sharing costs a training step: the supernet with its slicing switched off piece by piece.

The supernet's elastic ops run on leading slices of the largest weights (`supernet/ops.py`). This bench
times one subnet's forward+backward in variants that differ only in that: each variant replaces the sliced
tensors of some ops by leaf tensors of the sliced shape, copied once before timing (same values, same
kernels, no slicing and no gradient into the large tensor; not a usable supernet, an upper bound of what
slicing can cost). Variants run interleaved in one process, every variant in every position of the order,
against the stock timm twin of the subnet:

- `supernet`: as trained (sliced weights as leaves aliasing the large tensors, `supernet/_alias.py`);
- `supernet, autograd slicing`: the same with plain slicing under autograd (`SUPERNET_SLICE=autograd`,
  the default before the aliasing leaves);
- `no BN slicing`: batch norms on pre-sliced parameters and statistics;
- `no conv slicing`: convolutions on pre-sliced weights;
- `no slicing`: both; what is left against the twin is the elastic control flow in Python;
- `leaf copies per step`: a usable form of `no slicing`: before every step one `_foreach_copy_` refreshes
  the leaf copies from the large tensors (BN statistics stay views, updated in place), after its backward
  one `_foreach_add_` adds their gradients into the large tensors' gradients (the same gradients as the
  supernet's, checked). What this costs beyond `no slicing` is the price of the mechanism.

    python experiments/bench_slicing.py --arch smallest --out experiments/results/slicing_cost.md
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_supernet_step import AutogradSlicing, rotation, step_time  # noqa: E402

from supernet import ElasticMobileNetV2, SearchSpace, extract_subnet  # noqa: E402
from supernet._alias import use_alias  # noqa: E402
from supernet._compat import foreach_add_, foreach_copy_  # noqa: E402
from supernet._dwgrad import depthwise_conv2d  # noqa: E402
from supernet.files import atomic_write_text  # noqa: E402
from supernet.ops import DynamicBatchNormAct2d, DynamicConv2d, DynamicDepthwiseConv2d  # noqa: E402

ELASTIC = (DynamicBatchNormAct2d, DynamicConv2d, DynamicDepthwiseConv2d)


def active_widths(model: torch.nn.Module, x: torch.Tensor) -> dict[str, tuple[int, int]]:
    """(input, output) channels of every elastic op in the active subnet, by module name."""
    widths, hooks = {}, []
    for name, m in model.named_modules():
        if isinstance(m, ELASTIC):
            hooks.append(
                m.register_forward_hook(
                    lambda m, i, o, name=name: widths.__setitem__(name, (i[0].shape[1], o.shape[1]))
                )
            )
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return widths


class PerStepLeaves(torch.nn.Module):
    """`model` (an `unsliced(..., per_step=True)` copy) with its leaf copies refreshed before every forward
    and their gradients added into the large tensors' gradients by `after_backward()`."""

    def __init__(self, model: torch.nn.Module, pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        super().__init__()
        self.model = model
        self.fulls, self.leaves = [f for f, _ in pairs], [leaf for _, leaf in pairs]
        with torch.no_grad():
            self.views = [_view_of(full, leaf) for full, leaf in pairs]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            foreach_copy_([leaf.detach() for leaf in self.leaves], self.views)
        return self.model(x)

    def after_backward(self) -> None:
        done = [d for d in zip(self.fulls, self.leaves, self.views) if d[1].grad is not None]
        for full, _, _ in done:
            if full.grad is None:
                full.grad = torch.zeros_like(full)
        with torch.no_grad():  # each view's geometry, on its tensor's gradient (same layout as the tensor)
            targets = [full.grad.as_strided(v.size(), v.stride(), v.storage_offset()) for full, _, v in done]
            foreach_add_(targets, [leaf.grad for _, leaf, _ in done])


def _view_of(full: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
    """The leading slice of `full` (centred in the kernel dims) that `leaf` copies."""
    idx = [slice(0, n) for n in leaf.shape[:2]]
    idx += [slice((f - n) // 2, (f - n) // 2 + n) for f, n in zip(full.shape[2:], leaf.shape[2:])]
    return full.detach()[tuple(idx)]


def unsliced(model, widths, *, bn: bool, conv: bool, fmt, per_step: bool = False) -> torch.nn.Module:
    """A copy of `model` whose BN and/or conv ops run on leaf copies of their active slices; `per_step`:
    wrapped in `PerStepLeaves` (copies refreshed and gradients returned every step, BN statistics views)."""
    model = copy.deepcopy(model)
    pairs = []
    for name, m in model.named_modules():
        if name not in widths:
            continue
        cin, cout = widths[name]
        if bn and isinstance(m, DynamicBatchNormAct2d):
            m.w_ = torch.nn.Parameter(m.weight[:cin].detach().clone())
            m.b_ = torch.nn.Parameter(m.bias[:cin].detach().clone())
            m.mean_, m.var_ = m.running_mean[:cin], m.running_var[:cin]  # views: updated in place
            if per_step:
                pairs += [(m.weight, m.w_), (m.bias, m.b_)]
            else:
                m.mean_, m.var_ = m.mean_.clone(), m.var_.clone()

            def bn_forward(x, m=m):
                m.num_batches_tracked.add_(1)
                x = F.batch_norm(x, m.mean_, m.var_, m.w_, m.b_, True, m.momentum or 0.1, m.eps)
                return m.act(m.drop(x))

            m.forward = bn_forward
        elif conv and isinstance(m, DynamicConv2d):
            with torch.no_grad():  # a copy, without creating gradients on the large tensors
                w = m.active_weight(cin, cout)
            m.w_ = torch.nn.Parameter(w.detach().clone().contiguous(memory_format=fmt))
            m.forward = lambda x, m=m: F.conv2d(x, m.w_, None, m.stride, m.padding)
            pairs.append((m.weight, m.w_))
        elif conv and isinstance(m, DynamicDepthwiseConv2d):
            with torch.no_grad():
                w = m.active_weight(cin, m.active_kernel_size)
            m.w_ = torch.nn.Parameter(w.detach().clone().contiguous(memory_format=fmt))
            m.forward = lambda x, m=m: depthwise_conv2d(x, m.w_, m.stride)
            pairs.append((m.weight, m.w_))
    return PerStepLeaves(model, pairs) if per_step else model


def same_gradients(a: torch.nn.Module, b: PerStepLeaves, x: torch.Tensor) -> bool:
    """One step of each from equal weights gives equal gradients on every parameter of the supernet."""
    for m in (a, b):
        m.zero_grad(set_to_none=True)
        m(x).sum().backward()
    b.after_backward()
    grads_b = dict(b.model.named_parameters())
    return all(
        (p.grad is None) == (grads_b[n].grad is None)
        and (p.grad is None or torch.allclose(p.grad, grads_b[n].grad, rtol=1e-4, atol=1e-6))
        for n, p in a.named_parameters()
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="mbv2-small")
    p.add_argument("--arch", default="smallest", choices=("smallest", "largest"))
    p.add_argument("--in-chans", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--iters", type=int, default=2)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    use_alias(True)  # the supernet as `supernet train` runs it: sliced weights as aliasing leaves
    fmt = torch.channels_last
    load = os.getloadavg()[0]
    space = SearchSpace.resolve(args.space)
    supernet = ElasticMobileNetV2(space, num_classes=10, in_chans=args.in_chans).to(memory_format=fmt).train()
    arch = getattr(space, args.arch)()
    supernet.set_active(arch)
    x = torch.randn(args.batch, args.in_chans, arch.resolution, arch.resolution).contiguous(memory_format=fmt)
    widths = active_widths(supernet, x)
    models = {
        "supernet": supernet,
        "supernet, autograd slicing": AutogradSlicing(supernet),
        "no BN slicing": unsliced(supernet, widths, bn=True, conv=False, fmt=fmt),
        "no conv slicing": unsliced(supernet, widths, bn=False, conv=True, fmt=fmt),
        "no slicing": unsliced(supernet, widths, bn=True, conv=True, fmt=fmt),
        "leaf copies per step": unsliced(supernet, widths, bn=True, conv=True, fmt=fmt, per_step=True),
        "stock timm twin": extract_subnet(supernet, arch).to(memory_format=fmt).train(),
    }
    with torch.no_grad():
        ref = supernet(x)
        for name, m in models.items():  # same maths: the variants differ only in where weights live
            if not torch.allclose(m(x), ref, rtol=1e-4, atol=1e-5):
                sys.exit(f"error: variant {name!r} does not compute the supernet's output")
    if not same_gradients(supernet, models["leaf copies per step"], x):
        sys.exit("error: 'leaf copies per step' does not give the supernet's gradients")
    for m in models.values():
        step_time(m, x, 3)
    t = {name: [] for name in models}
    for r in range(args.rounds):
        for name in rotation(list(models), r):
            t[name].append(step_time(models[name], x, args.iters)[0])
    twin = t["stock timm twin"]
    lines = [
        f"# What slicing costs a training step ({args.arch} subnet of {args.space})",
        "",
        f"Command: `python {' '.join(sys.argv)}`",
        "",
        f"torch {torch.__version__}, 1 thread, batch {args.batch}, {args.in_chans} input channel(s), "
        f"channels_last, forward+backward, median of {args.rounds} rounds x {args.iters} steps, every variant "
        f"in every position of the order. 1-min load average at the start: {load:.2f}. Arch `{arch}`.",
        "",
        "| variant | ms | ratio to the stock twin (median of per-round ratios) |",
        "|---|---:|---:|",
    ]
    for name, v in t.items():
        ratio = statistics.median(a / b for a, b in zip(v, twin))
        lines.append(f"| {name} | {1e3 * statistics.median(v):.2f} | {ratio:.3f} |")
        print(f"{name:16s} {1e3 * statistics.median(v):7.2f} ms  ratio {ratio:.3f}", flush=True)
    if args.out:
        atomic_write_text(args.out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
