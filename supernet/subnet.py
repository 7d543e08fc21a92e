"""Cut a subnet out of the supernet as a stock `timm.models.EfficientNet` with the sliced weights.

The result carries timm's `pretrained_cfg` (input size, mean, std, interpolation, crop, classes and their
names: the run's preprocessing contract), so `timm.data.resolve_data_config({}, model=subnet)` and
`create_transform` prepare images exactly as evaluation did, and `subnet_args` (timm block strings and
constructor arguments) from which `load_subnet` rebuilds it without pickle.
"""

from __future__ import annotations

from functools import partial

import torch
from timm.models import EfficientNet
from torch import nn

from ._compat import decode_arch_def, round_channels
from .arch import ArchConfig
from .model import ACTIVATIONS, ElasticMobileNetV2
from .ops import DynamicDepthwiseConv2d
from .preprocess import Preprocessing
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
    *,
    drop_rate: float = 0.0,
    act_layer: type[nn.Module] = nn.ReLU6,
) -> EfficientNet:
    """A freshly initialised timm MobileNetV2-style model of this arch (for training alone or extraction)."""
    arch.validate(space)
    act_name = next((n for n, cls in ACTIVATIONS.items() if cls is act_layer), None)
    args = {
        "arch_def": arch_def(space, arch),
        "num_classes": num_classes,
        "num_features": space.head_chs,
        "in_chans": in_chans,
        "stem_size": space.stem_chs,
        "fix_stem": True,
        "act_layer": act_name,
        "drop_rate": drop_rate,
    }
    model = build_from_args(args) if act_name else _efficientnet(args, act_layer)
    model.subnet_args = {**args, "arch": arch.to_dict(), "space": space.name}
    return model


def _efficientnet(args: dict, act_layer: type[nn.Module]) -> EfficientNet:
    return EfficientNet(
        block_args=decode_arch_def(args["arch_def"]),
        num_classes=args["num_classes"],
        num_features=args["num_features"],
        in_chans=args["in_chans"],
        stem_size=args["stem_size"],
        fix_stem=args["fix_stem"],
        round_chs_fn=partial(round_channels, multiplier=None),  # channels are already exact
        act_layer=act_layer,
        drop_rate=args["drop_rate"],
    )


def build_from_args(args: dict) -> EfficientNet:
    """The model `subnet_args` describe (timm block strings + constructor arguments), freshly initialised."""
    return _efficientnet(args, ACTIVATIONS[args["act_layer"]])


@torch.no_grad()
def extract_subnet(
    supernet: ElasticMobileNetV2,
    arch: ArchConfig,
    *,
    calibrate: torch.Tensor | None = None,
    preprocessing: Preprocessing | None = None,
) -> EfficientNet:
    """A standalone timm model equal to `supernet` with `arch` active (weights and BN statistics copied).

    `calibrate`: images prepared for `arch.resolution` (the preprocessing's `eval_transform`); BN statistics
    are first recalibrated on them for `arch` (this changes the supernet's running statistics). Without it
    the supernet's current statistics are copied, which after sandwich training fit no subnet well.
    `preprocessing`: the contract recorded in `pretrained_cfg` (default: the supernet's `preprocessing`
    attribute, which `Supernet.from_run` sets; else ImageNet-style defaults at `arch.resolution`).
    """
    if calibrate is not None:
        from .train.bn_calib import recalibrate_bn

        recalibrate_bn(supernet, arch, calibrate)
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
    contract = preprocessing or getattr(supernet, "preprocessing", None)
    if contract is None:
        contract = Preprocessing.default(supernet.in_chans, arch.resolution, supernet.num_classes)
    subnet.pretrained_cfg = contract.at(arch.resolution).pretrained_cfg()
    subnet.default_cfg = subnet.pretrained_cfg  # timm's older name
    return subnet.train(supernet.training)
