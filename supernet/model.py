"""The weight-sharing elastic MobileNetV2. Module names follow timm's `EfficientNet`, so `extract_subnet`
copies every tensor into a stock timm model by name (sliced to the subnet's shape)."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from timm.layers import BatchNormAct2d, create_classifier, create_conv2d
from torch import nn

from ._compat import DepthwiseSeparableConv, efficientnet_init_weights
from .arch import ArchConfig
from .blocks import ElasticInvertedResidual
from .errors import SupernetError
from .ops import DynamicConv2d
from .space import SearchSpace

# Activations by the name checkpoints store (a class cannot be stored safely; a name rebuilds the model).
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu6": nn.ReLU6,
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "hard_swish": nn.Hardswish,
    "gelu": nn.GELU,
}


def activation_name(act_layer: str | type[nn.Module]) -> str:
    """The stored name of an activation given by name or class; anything else is a SupernetError."""
    for name, cls in ACTIVATIONS.items():
        if act_layer == name or act_layer is cls:
            return name
    raise SupernetError(f"act_layer {act_layer!r} is not supported; allowed: {', '.join(ACTIVATIONS)}")


class ElasticMobileNetV2(nn.Module):
    """Every subnet of `space` in one network; `set_active(arch)` picks which one `forward` runs.

    The input is used at whatever resolution it arrives: resizing to `arch.resolution` is the data
    pipeline's job. Dropout and drop-path run only while `set_active(..., regularize=True)` is in force
    (BigNAS regularises only the largest subnet).
    """

    def __init__(
        self,
        space: SearchSpace,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        kernel_transform: bool = False,
        act_layer: str | type[nn.Module] = "relu6",
    ) -> None:
        super().__init__()
        self.act_name = activation_name(act_layer)  # saved with checkpoints, used by extract_subnet
        act_layer = ACTIVATIONS[self.act_name]
        self.space = space
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.drop_rate = drop_rate
        self.drop_path_rate = drop_path_rate
        self.kernel_transform = kernel_transform
        self.regularize = False

        self.conv_stem = create_conv2d(in_chans, space.stem_chs, 3, stride=2)
        self.bn1 = BatchNormAct2d(space.stem_chs, act_layer=act_layer)
        first = DepthwiseSeparableConv(space.stem_chs, space.first_chs, 3, act_layer=act_layer)
        stages: list[nn.Module] = [nn.Sequential(first)]
        num_blocks = sum(max(s.depths) for s in space.stages)
        in_chs, block_idx = space.first_chs, 0
        for i, st in enumerate(space.stages):
            out_chs = space.max_stage_chs(i)
            blocks = []
            for j in range(max(st.depths)):
                blocks.append(
                    ElasticInvertedResidual(
                        in_chs,
                        out_chs,
                        st.kernel_sizes,
                        st.exp_ratios,
                        stride=st.stride if j == 0 else 1,
                        act_layer=act_layer,
                        drop_path_rate=drop_path_rate * block_idx / num_blocks,
                        kernel_transform=kernel_transform,
                    )
                )
                in_chs, block_idx = out_chs, block_idx + 1
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.conv_head = DynamicConv2d(in_chs, space.head_chs)
        self.bn2 = BatchNormAct2d(space.head_chs, act_layer=act_layer)
        self.global_pool, self.classifier = create_classifier(space.head_chs, num_classes)
        efficientnet_init_weights(self)
        self.depths = [max(s.depths) for s in space.stages]
        self.active_arch = space.largest()
        self.set_active(self.active_arch)

    def elastic_blocks(self) -> list[ElasticInvertedResidual]:
        return [b for stage in self.blocks[1:] for b in stage]

    def zero_init_last(self) -> None:
        """Zero-gamma on the last BN of every block that is residual in all subnets."""
        for block in self.elastic_blocks():
            if block.always_residual:
                block.zero_init_last()

    def set_active(self, arch: ArchConfig, regularize: bool = False) -> None:
        arch.validate(self.space)
        self.active_arch = arch
        self.regularize = regularize
        for i, stage in enumerate(self.blocks[1:]):
            out_chs = self.space.stage_chs(i, arch.width_mults[i])
            for j, block in enumerate(stage):
                if j < arch.depths[i]:
                    block.set_active(out_chs, arch.kernel_sizes[i][j], arch.exp_ratios[i][j])
                block.drop_path_active = regularize
        self.depths = list(arch.depths)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.conv_stem(x))
        x = self.blocks[0](x)
        for stage, depth in zip(self.blocks[1:], self.depths):
            for block in itertools.islice(stage, depth):  # not stage[:depth]: a new Sequential each call
                x = block(x)
        return self.bn2(self.conv_head(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        x = self.global_pool(x)
        if self.regularize and self.drop_rate > 0:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
