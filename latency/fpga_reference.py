"""Published FPGA figures and the networks behind them, to check and calibrate the FPGA cost model.

Source: Vitis AI 2.5 Model Zoo README (github.com/Xilinx/Vitis-AI, model_zoo/README.md, "Model
Performance"), end-to-end throughput with a single thread (fps), on ZCU102 with 3x B4096 @ 281 MHz and
on ZCU104 with 2x B4096 @ 300 MHz. One thread runs one image at a time, so 1000 / fps is its latency.
The networks are rebuilt here from their papers at the TF-slim shapes the zoo names (224 px unless
stated), as `LayerSpec`s and `FpgaOp`s the cost model consumes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from timm.layers import make_divisible

from supernet import ArchConfig, SearchSpace

from .fpga import FpgaOp
from .layers import LayerSpec, arch_layers, conv_out

Layers = list[LayerSpec | FpgaOp]


def mobilenet_v1(alpha: float = 1.0, res: int = 224, num_classes: int = 1001) -> Layers:
    """MobileNetV1 (Howard et al. 2017): 3x3 s2 stem, 13 depthwise-separable blocks, pool, classifier."""

    def chs(c: int) -> int:
        return max(int(c * alpha), 8)

    plan = (
        [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    )
    layers: Layers = [LayerSpec("stem", res, 3, chs(32), kernel_size=3, stride=2)]
    res, in_chs = conv_out(res, 2), chs(32)
    for out, stride in plan:
        layers.append(LayerSpec("ds", res, in_chs, chs(out), kernel_size=3, stride=stride))
        res, in_chs = conv_out(res, stride), chs(out)
    return layers + [FpgaOp("pool", res, in_chs, in_chs, res, res), FpgaOp("conv", 1, in_chs, num_classes)]


def mobilenet_v2(alpha: float = 1.0, res: int = 224, num_classes: int = 1001) -> Layers:
    """MobileNetV2 (Sandler et al. 2018), TF-slim channel rounding; the head widens only for alpha > 1."""

    def chs(c: int) -> int:
        return make_divisible(c * alpha, 8)

    head = chs(1280) if alpha > 1 else 1280
    layers: Layers = [LayerSpec("stem", res, 3, chs(32), kernel_size=3, stride=2)]
    res = conv_out(res, 2)
    layers.append(LayerSpec("ds", res, chs(32), chs(16), kernel_size=3))
    in_chs = chs(16)
    for out, depth, stride in [(24, 2, 2), (32, 3, 2), (64, 4, 2), (96, 3, 1), (160, 3, 2), (320, 1, 1)]:
        for j in range(depth):
            s = stride if j == 0 else 1
            skip = s == 1 and in_chs == chs(out)
            layers.append(
                LayerSpec(
                    "mbconv",
                    res,
                    in_chs,
                    chs(out),
                    mid_chs=make_divisible(in_chs * 6),
                    kernel_size=3,
                    stride=s,
                    skip=skip,
                )
            )
            res, in_chs = conv_out(res, s), chs(out)
    return layers + [LayerSpec("head", res, in_chs, head, mid_chs=num_classes)]


def mobilenet_v2_from_space(res: int = 224, num_classes: int = 1000) -> Layers:
    """The stock MobileNetV2-1.0 as a subnet of `mbv2-imagenet` (width 1.0, depths 2-3-4-3-3-1, k3, e6)."""
    space = SearchSpace.preset("mbv2-imagenet")
    depths = (2, 3, 4, 3, 3, 1)
    arch = ArchConfig(
        res,
        width_mults=(1.0,) * 6,
        depths=depths,
        kernel_sizes=tuple((3,) * d for d in depths),
        exp_ratios=tuple((6.0,) * d for d in depths),
    )
    arch.validate(space)
    return arch_layers(space, arch, 3, num_classes)


def resnet_v1(depth: int = 50, res: int = 224, num_classes: int = 1000) -> Layers:
    """ResNet-v1 (He et al. 2016) as in TF-slim: 7x7 s2 stem, 3x3 s2 max-pool, bottleneck units whose
    stride sits on the 3x3 conv of each block's last unit, projection shortcut where widths change."""
    units = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}[depth]
    layers: Layers = [FpgaOp("conv", res, 3, 64, 7, 2)]
    res = conv_out(res, 2)
    layers.append(FpgaOp("pool", res, 64, 64, 3, 2))
    res, in_chs = conv_out(res, 2), 64
    for i, n in enumerate(units):
        mid = 64 * 2**i
        out = 4 * mid
        for j in range(n):
            s = 2 if j == n - 1 and i < 3 else 1
            if in_chs != out:
                layers.append(FpgaOp("conv", res, in_chs, out, 1, s))
            layers += [FpgaOp("conv", res, in_chs, mid), FpgaOp("conv", res, mid, mid, 3, s)]
            res = conv_out(res, s)
            layers += [FpgaOp("conv", res, mid, out), FpgaOp("add", res, out, out)]
            in_chs = out
    return layers + [FpgaOp("pool", res, in_chs, in_chs, res, res), FpgaOp("conv", 1, in_chs, num_classes)]


@dataclass(frozen=True)
class PublishedPoint:
    """One published end-to-end figure: `fps` single-thread on `board` for zoo model `zoo_name`."""

    model: str
    zoo_name: str
    board: str
    fps: float
    build: Callable[[], Layers]

    @property
    def ms(self) -> float:
        return 1000.0 / self.fps


_NETS: dict[str, tuple[str, Callable[[], Layers]]] = {
    "MobileNetV1-0.25-128": ("tf_mobilenetv1_0.25_imagenet_128_128_27M", lambda: mobilenet_v1(0.25, 128)),
    "MobileNetV1-0.5-160": ("tf_mobilenetv1_0.5_imagenet_160_160_150M", lambda: mobilenet_v1(0.5, 160)),
    "MobileNetV1-1.0-224": ("tf_mobilenetv1_1.0_imagenet_224_224_1.14G", lambda: mobilenet_v1(1.0, 224)),
    "MobileNetV2-1.0-224": ("tf_mobilenetv2_1.0_imagenet_224_224_602M", lambda: mobilenet_v2(1.0, 224)),
    "MobileNetV2-1.4-224": ("tf_mobilenetv2_1.4_imagenet_224_224_1.16G", lambda: mobilenet_v2(1.4, 224)),
    "ResNet-v1-50": ("tf_resnetv1_50_imagenet_224_224_6.97G", lambda: resnet_v1(50)),
    "ResNet-v1-101": ("tf_resnetv1_101_imagenet_224_224_14.4G", lambda: resnet_v1(101)),
    "ResNet-v1-152": ("tf_resnetv1_152_imagenet_224_224_21.83G", lambda: resnet_v1(152)),
}

# Single-thread end-to-end fps from the Vitis AI 2.5 Model Zoo tables: (ZCU102, ZCU104).
_FPS: dict[str, tuple[float, float]] = {
    "MobileNetV1-0.25-128": (1332.90, 1375.03),
    "MobileNetV1-0.5-160": (914.84, 950.02),
    "MobileNetV1-1.0-224": (326.62, 344.85),
    "MobileNetV2-1.0-224": (268.07, 284.18),
    "MobileNetV2-1.4-224": (191.08, 203.20),
    "ResNet-v1-50": (87.95, 93.84),
    "ResNet-v1-101": (46.38, 49.54),
    "ResNet-v1-152": (31.64, 33.81),
}

BOARD_PRESETS = {"ZCU102": "zcu102-b4096", "ZCU104": "zcu104-b4096"}


def published_points(board: str | None = None) -> list[PublishedPoint]:
    """The published figures, optionally for one board ('ZCU102' or 'ZCU104')."""
    points = [
        PublishedPoint(model, zoo_name=_NETS[model][0], board=b, fps=fps[i], build=_NETS[model][1])
        for model, fps in _FPS.items()
        for i, b in enumerate(BOARD_PRESETS)
    ]
    return [p for p in points if board is None or p.board == board]
