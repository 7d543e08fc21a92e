"""MACs and parameters: a fast analytic count for search, and the exact fvcore count it is tested against.

Convention (the one timm, OFA and the MobileNetV2 paper report as "FLOPs"): MACs are the
multiply-accumulates of convolutions and the classifier at batch size 1. BatchNorm (folded into the
convolutions at deployment), activations, pooling and residual adds are not counted. Parameters are
every trainable tensor of the extracted subnet, BatchNorm affine weights included.
"""

from __future__ import annotations

from supernet import ArchConfig, SearchSpace

from .layers import LayerSpec, arch_layers, conv_out

FVCORE_MAC_OPS = ("conv", "linear", "addmm", "matmul")


def _conv(res_out: int, in_chs: int, out_chs: int, kernel_size: int, groups: int = 1) -> tuple[int, int]:
    params = kernel_size * kernel_size * in_chs // groups * out_chs
    return params * res_out * res_out, params


def layer_macs_params(spec: LayerSpec) -> tuple[int, int]:
    """(MACs, params) of one layer; BN contributes 2 params per channel and no MACs."""
    out_res = spec.out_res
    parts: list[tuple[int, int]] = []
    if spec.kind == "stem":
        parts = [_conv(out_res, spec.in_chs, spec.out_chs, spec.kernel_size), (0, 2 * spec.out_chs)]
    elif spec.kind == "ds":
        parts = [
            _conv(out_res, spec.in_chs, spec.in_chs, spec.kernel_size, groups=spec.in_chs),
            (0, 2 * spec.in_chs),
            _conv(out_res, spec.in_chs, spec.out_chs, 1),
            (0, 2 * spec.out_chs),
        ]
    elif spec.kind == "mbconv":
        mid = spec.mid_chs
        parts = [
            _conv(spec.in_res, spec.in_chs, mid, 1),
            _conv(out_res, mid, mid, spec.kernel_size, groups=mid),
            _conv(out_res, mid, spec.out_chs, 1),
            (0, 2 * (2 * mid + spec.out_chs)),
        ]
    elif spec.kind == "head":
        num_classes = spec.mid_chs
        parts = [
            _conv(spec.in_res, spec.in_chs, spec.out_chs, 1),
            (0, 2 * spec.out_chs),
            (spec.out_chs * num_classes, spec.out_chs * num_classes + num_classes),
        ]
    else:
        raise ValueError(f"unknown layer kind {spec.kind!r}")
    return sum(p[0] for p in parts), sum(p[1] for p in parts)


def count_macs_params(
    space: SearchSpace, arch: ArchConfig, in_chans: int, num_classes: int
) -> tuple[int, int]:
    """Exact (MACs, params) of `arch` without building it: microseconds, so search can call it freely."""
    macs = params = 0
    for spec in arch_layers(space, arch.validate(space), in_chans, num_classes):
        m, p = layer_macs_params(spec)
        macs, params = macs + m, params + p
    return macs, params


def fvcore_macs_params(
    space: SearchSpace, arch: ArchConfig, in_chans: int, num_classes: int
) -> tuple[int, int]:
    """The same count measured by fvcore on the built timm subnet (the reference; slower)."""
    import torch
    from fvcore.nn import FlopCountAnalysis

    from supernet import build_subnet

    model = build_subnet(space, arch, num_classes, in_chans).eval()
    x = torch.zeros(1, in_chans, arch.resolution, arch.resolution)
    analysis = FlopCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    macs = sum(v for op, v in analysis.by_operator().items() if op in FVCORE_MAC_OPS)
    return int(macs), sum(p.numel() for p in model.parameters())


__all__ = ["conv_out", "count_macs_params", "fvcore_macs_params", "layer_macs_params"]
