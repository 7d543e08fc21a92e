"""The one place the project reaches into private parts of its libraries (timm, Ray).

These names are not public API and may move in any release; pyproject.toml bounds the versions they are
known to work with (`timm<1.1`, `ray<3`), and `tests/supernet/test_compat.py` checks that no other module
imports a private library path. When a library moves one of them, only this file changes.

timm's block classes and builder helpers are what `timm.models.EfficientNet` itself is made of; the
project builds and measures exactly those modules so an extracted subnet is a stock timm model.
Ray's pieces are imported lazily: importing the model must not import Ray.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

import torch
from timm.models._efficientnet_blocks import DepthwiseSeparableConv, InvertedResidual
from timm.models._efficientnet_builder import decode_arch_def, efficientnet_init_weights, round_channels

__all__ = [
    "DepthwiseSeparableConv",
    "InvertedResidual",
    "decode_arch_def",
    "efficientnet_init_weights",
    "foreach_add_",
    "foreach_copy_",
    "ray_client_dependency_error",
    "ray_services",
    "round_channels",
]


def foreach_copy_(dst: Sequence[torch.Tensor], src: Sequence[torch.Tensor]) -> None:
    """`dst[i].copy_(src[i])` for every i in one call (PyTorch's multi-tensor op, as its optimizers use)."""
    torch._foreach_copy_(list(dst), list(src))


def foreach_add_(dst: Sequence[torch.Tensor], src: Sequence[torch.Tensor]) -> None:
    """`dst[i].add_(src[i])` for every i in one call (PyTorch's multi-tensor op)."""
    torch._foreach_add_(list(dst), list(src))


def ray_client_dependency_error() -> str | None:
    """Why Ray Client (`ray://` addresses) cannot be used here, or None when its dependencies are installed."""
    from ray._private.utils import get_ray_client_dependency_error

    error = get_ray_client_dependency_error()  # Ray returns the ImportError itself (e.g. no grpc module)
    return None if error is None else str(error) or type(error).__name__


def ray_services() -> ModuleType:
    """Ray's module that finds a cluster running on this machine (`ray.init(address="auto")` asks it)."""
    import ray._private.services as services

    return services
