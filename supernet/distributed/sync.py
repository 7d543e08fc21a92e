"""One all-reduce per sandwich step: gradients, their presence and the BN running statistics in one bucket.

DDP would need `find_unused_parameters=True` (an extra graph walk and extra all-reduces per step)
because depth-skipped blocks and unused kernel-transform matrices get no gradient. Here every rank
packs, for every parameter, its gradient (zeros where it has none) plus a 1/0 "has a gradient" flag,
and every floating-point buffer (BN running mean/var), into one flat tensor and sums it once with
`torch.distributed.all_reduce`. Afterwards a parameter that no rank touched keeps `grad=None`, exactly
as in a single process (so the optimizer skips it as it would there), and all ranks hold the same
gradients and the same BN statistics bit for bit, hence the same weights after the optimizer step.
"""

from __future__ import annotations

import hashlib
import socket

import torch
import torch.distributed as dist
from torch import nn


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` now, for a gloo rendezvous (`init_method=f"tcp://{host}:{port}"`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _float_buffers(model: nn.Module) -> list[torch.Tensor]:
    return [b for b in model.buffers() if b.is_floating_point()]


def bucket_numel(model: nn.Module) -> int:
    """Number of elements all-reduced per step (gradients + flags + float buffers)."""
    params = list(model.parameters())
    return sum(p.numel() for p in params) + len(params) + sum(b.numel() for b in _float_buffers(model))


def mean_over_ranks(value: float, device: torch.device | str = "cpu") -> float:
    """Average one float over all ranks (the Trainer's `reduce_scalar`: the collapse guard decides alike)."""
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t) / dist.get_world_size()


@torch.no_grad()
def allreduce_step(model: nn.Module, group: dist.ProcessGroup | None = None) -> None:
    """Average gradients and float buffers of `model` over all ranks with a single all-reduce.

    Call once per step, after the whole sandwich's backward and before gradient clipping and the
    optimizer step (it is the Trainer's `grad_sync` hook). A no-op when torch.distributed is not
    initialised or the world has one rank.
    """
    if not dist.is_available() or not dist.is_initialized():
        return
    world_size = dist.get_world_size(group)
    if world_size == 1:
        return
    params = list(model.parameters())
    buffers = _float_buffers(model)
    device = params[0].device
    chunks: list[torch.Tensor] = []
    for p in params:
        chunks.append(
            p.grad.reshape(-1).float() if p.grad is not None else p.new_zeros(p.numel(), dtype=torch.float32)
        )
    chunks.append(torch.tensor([float(p.grad is not None) for p in params], device=device))
    chunks.extend(b.reshape(-1).float() for b in buffers)
    bucket = torch.cat(chunks)
    dist.all_reduce(bucket, op=dist.ReduceOp.SUM, group=group)
    bucket.div_(world_size)

    offset = 0
    grads = []
    for p in params:
        grads.append(bucket[offset : offset + p.numel()].view_as(p))
        offset += p.numel()
    flags = bucket[offset : offset + len(params)]
    offset += len(params)
    for p, g, flag in zip(params, grads, flags.tolist()):
        if flag == 0.0:
            p.grad = None
        elif p.grad is None:
            p.grad = g.to(p.dtype).clone()
        else:
            p.grad.copy_(g)
    for b in buffers:
        b.copy_(bucket[offset : offset + b.numel()].view_as(b))
        offset += b.numel()


@torch.no_grad()
def broadcast_model(model: nn.Module, src: int = 0, group: dist.ProcessGroup | None = None) -> None:
    """Copy rank `src`'s parameters and buffers to every rank (start of a run: same initial weights)."""
    if not dist.is_available() or not dist.is_initialized() or dist.get_world_size(group) == 1:
        return
    tensors = [p.data for p in model.parameters()] + list(model.buffers())
    flat = torch.cat([t.reshape(-1).double() for t in tensors])
    dist.broadcast(flat, src=src, group=group)
    offset = 0
    for t in tensors:
        t.copy_(flat[offset : offset + t.numel()].view_as(t))
        offset += t.numel()


def weights_digest(model: nn.Module, buffers: bool = True) -> str:
    """SHA-256 over the bytes of every parameter (and buffer): equal digests mean bit-identical models."""
    tensors = model.state_dict() if buffers else dict(model.named_parameters())
    h = hashlib.sha256()
    for name, t in sorted(tensors.items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def gather_digests(
    model: nn.Module, buffers: bool = True, group: dist.ProcessGroup | None = None
) -> list[str]:
    """Every rank's `weights_digest(model, buffers)`, in rank order (one small all-gather)."""
    digests: list[str | None] = [None] * dist.get_world_size(group)
    dist.all_gather_object(digests, weights_digest(model, buffers), group=group)
    return [str(d) for d in digests]


class StepSync:
    """The Trainer's `grad_sync` hook: `allreduce_step`, optionally proving the ranks agree first.

    With `check`, each call first gathers every rank's digest of the parameters (as the previous step
    left them; BN buffers are not synced yet at this point) into `digests` and raises RuntimeError if
    they differ; it costs a hash of the model per step, so it is for tests and debugging.
    """

    def __init__(self, check: bool = False) -> None:
        self.check = check
        self.digests: list[list[str]] = []

    def __call__(self, model: nn.Module) -> None:
        if self.check:
            digests = gather_digests(model, buffers=False)
            self.digests.append(digests)
            if len(set(digests)) > 1:
                raise RuntimeError(
                    f"ranks diverged before step {len(self.digests)}: weight digests {digests}"
                )
        allreduce_step(model)
