"""Cut a subnet out of the supernet as a stock `timm.models.EfficientNet` with the sliced weights."""

from __future__ import annotations

from functools import partial

import torch
from timm.models import EfficientNet
from timm.models._efficientnet_builder import decode_arch_def, round_channels
from torch import nn

from .arch import ArchConfig
from .model import ACTIVATIONS, ElasticMobileNetV2
from .ops import DynamicDepthwiseConv2d
from .space import SearchSpace


def arch_def(space: SearchSpace, arch: ArchConfig) -> list[list[str]]:
    """timm's block-string notation for `arch`, one block per string (kernels and expands differ per block)."""
    stages = [[f"ds_r1_k3_s1_c{space.first_chs}"]]
    for i, st in enumerate(space.stages):
        chs = space.stage_chs(i, arch.width_mults[i])
        stages.append(
            [
                f"ir_r1_k{k}_s{st.stride if j == 0 else 1}_e{e:g}_c{chs}"
                for j, (k, e) in enumerate(zip(arch.kernel_sizes[i], arch.exp_ratios[i]))
            ]
        )
    return stages


def build_subnet(
    space: SearchSpace,
    arch: ArchConfig,
    num_classes: int = 1000,
    in_chans: int = 3,
    drop_rate: float = 0.0,
    act_layer: type[nn.Module] = nn.ReLU6,
) -> EfficientNet:
    """A freshly initialised timm MobileNetV2-style model of this arch (for training alone or extraction)."""
    arch.validate(space)
    return EfficientNet(
        block_args=decode_arch_def(arch_def(space, arch)),
        num_classes=num_classes,
        num_features=space.head_chs,
        in_chans=in_chans,
        stem_size=space.stem_chs,
        fix_stem=True,
        round_chs_fn=partial(round_channels, multiplier=None),  # channels are already exact
        act_layer=act_layer,
        drop_rate=drop_rate,
    )


@torch.no_grad()
def extract_subnet(supernet: ElasticMobileNetV2, arch: ArchConfig) -> EfficientNet:
    """A standalone timm model equal to `supernet` with `arch` active (weights and BN statistics copied)."""
    subnet = build_subnet(
        supernet.space,
        arch,
        num_classes=supernet.num_classes,
        in_chans=supernet.in_chans,
        drop_rate=supernet.drop_rate,
        act_layer=ACTIVATIONS[supernet.act_name],
    )
    sources = dict(supernet.named_modules())
    for name, module in subnet.named_modules():
        tensors = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
        src = sources[name] if tensors else None
        if isinstance(src, DynamicDepthwiseConv2d):
            module.weight.copy_(src.active_weight(module.out_channels, module.kernel_size[0]))
            continue
        for attr, dst in tensors:
            value = getattr(src, attr)
            dst.copy_(value[tuple(slice(0, n) for n in dst.shape)] if dst.ndim else value)
    return subnet.train(supernet.training)
