"""A subnet's slice of a parameter as a leaf that aliases the parameter's memory.

Elastic ops run on leading slices of the largest weights (`ops.py`). Sliced under autograd, every
sliced tensor costs a subnet step a chain of slice nodes and, in its backward, a zero-filled tensor of
the parameter's full size that the slice's gradient is copied into and then added to `param.grad`. On
a small subnet those per-op costs are much of what weight sharing costs a step.

Here the slice is instead a *leaf* view of the parameter's storage (`param.detach()[index]`, no copy)
whose `.grad` is the same slice of `param.grad`: autograd accumulates into an existing `.grad` in place
(`grad += new`), so the subnet's gradient lands straight in the full gradient, with no slice node, no
zero-filled tensor and no extra add. Optimizer steps update the parameter in place, which the leaf sees.

Leaves are cached per parameter and slice. So that they need not be re-pointed every step, a parameter
keeps one gradient tensor: when a step first uses the parameter (sliced or whole) and finds
`grad=None` (after `zero_grad(set_to_none=True)`), that tensor is zeroed in place and set as its
`.grad` again, as `zero_grad(set_to_none=False)` would have left it; a parameter no subnet used keeps
`grad=None`, as with plain slicing. A gradient set from outside (e.g. by a gradient all-reduce) is
adopted, and a parameter moved to new memory (`.to()`, `param.data = ...`) gets new leaves.

Gradients reach `param.grad` without passing through the parameter's own autograd node, so hooks on
parameters, `torch.autograd.grad` with respect to parameters and DistributedDataParallel (which hooks
them) do not see the gradients of sliced uses. The leaves are therefore on only where this project
trains: `supernet train` and the processes it starts (its ranks, Ray Train workers, Tune trials) call
`for_training()`, which sets `SUPERNET_SLICE=alias` unless the variable is set (`autograd` turns them
off). Imported as a library the supernet slices under autograd unless `SUPERNET_SLICE=alias` or
`use_alias(True)`. Plain slicing is also used where no gradient is wanted (no-grad evaluation, BN
calibration, parameters that do not require grad) and under `torch.jit` tracing (fvcore's counters).
Gradients are bit-identical either way (tested): the same numbers are added in the same order.
"""

from __future__ import annotations

import contextlib
import os
import warnings

import torch

_ALIAS = os.environ.get("SUPERNET_SLICE") == "alias"

# Autograd warns once when an accumulated `.grad` is strided unlike a dense tensor; these leaves and
# their gradients are strided slices by design (no DDP bucket views rely on their layout).
warnings.filterwarnings("ignore", message="grad and param do not obey the gradient layout contract")


def for_training() -> str:
    """Aliasing leaves on for this process and the ones it starts, unless SUPERNET_SLICE says otherwise (a
    value other than alias/autograd is refused); returns `supernet train`'s log note."""
    value = os.environ.setdefault("SUPERNET_SLICE", "alias")
    if value not in ("alias", "autograd"):
        from .errors import SupernetError

        raise SupernetError(f"SUPERNET_SLICE={value!r}: expected 'alias' (the default) or 'autograd'")
    use_alias(value == "alias")
    return "" if _ALIAS else "; sliced weights: plain autograd slicing (SUPERNET_SLICE=autograd)"


def use_alias(on: bool) -> bool:
    """Switch aliasing leaves on or off for this process; returns the previous setting."""
    global _ALIAS
    previous, _ALIAS = _ALIAS, bool(on)
    return previous


@contextlib.contextmanager
def aliasing(on: bool):
    """`use_alias(on)` for the duration of a `with` block (benchmarks and tests compare both ways)."""
    previous = use_alias(on)
    try:
        yield
    finally:
        use_alias(previous)


def _wants_grad(param: torch.Tensor) -> bool:
    return _ALIAS and param.requires_grad and torch.is_grad_enabled() and not torch.jit.is_tracing()


def _grad_of(param: torch.Tensor) -> torch.Tensor:
    """`param.grad`, set to the parameter's kept gradient tensor (zeroed) when it is None."""
    grad = param.grad
    if grad is None:
        kept = param.__dict__.get("_supernet_grad")
        if kept is None or (kept.shape, kept.dtype, kept.device) != (param.shape, param.dtype, param.device):
            kept = torch.zeros_like(param)
        else:
            kept.zero_()
        param.grad = grad = kept
    param.__dict__["_supernet_grad"] = grad
    return grad


def whole(param: torch.Tensor) -> torch.Tensor:
    """`param` for a forward pass that uses all of it, its gradient kept (see the module docstring)."""
    if _wants_grad(param):
        _grad_of(param)
    return param


def sliced(param: torch.Tensor, key: tuple, index: tuple[slice, ...]) -> torch.Tensor:
    """`param[index]` for a forward pass (`key`: a hashable name of `index`), as an aliasing leaf."""
    if not _wants_grad(param):
        return param[index]
    grad = _grad_of(param)
    entries = param.__dict__.get("_supernet_slices")
    if entries is None:
        entries = param.__dict__["_supernet_slices"] = {}
    entry = entries.get(key)
    ptr = param.data_ptr()
    if entry is None or entry[0] != ptr:
        entry = entries[key] = [ptr, param.detach()[index].requires_grad_(), None]
    leaf = entry[1]
    if entry[2] is not grad or leaf.grad is None:
        leaf.grad = grad[index]
        entry[2] = grad
    return leaf
