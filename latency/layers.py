"""The layers a subnet is made of, as hashable keys: the unit of lookup tables and cost models."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

from timm.layers import make_divisible

from supernet import ArchConfig, SearchSpace


def conv_out(res: int, stride: int) -> int:
    """Output size of a 'same'-padded odd-kernel conv (timm's symmetric padding)."""
    return (res - 1) // stride + 1


@dataclass(frozen=True)
class LayerSpec:
    """One measurable layer. `kind` is 'stem' (3x3 s2 conv+BN+act), 'ds' (the fixed depthwise-separable
    block), 'mbconv' (an inverted-residual block) or 'head' (1x1 conv+BN+act, pool, classifier)."""

    kind: str
    in_res: int
    in_chs: int
    out_chs: int
    _: KW_ONLY
    mid_chs: int = 0
    kernel_size: int = 1
    stride: int = 1
    skip: bool = False

    @property
    def key(self) -> str:
        """ProxylessNAS-style key, e.g. `mbconv-r16-i24-o32-m144-k5-s2-skip0`."""
        return (
            f"{self.kind}-r{self.in_res}-i{self.in_chs}-o{self.out_chs}-m{self.mid_chs}"
            f"-k{self.kernel_size}-s{self.stride}-skip{int(self.skip)}"
        )

    @property
    def out_res(self) -> int:
        return conv_out(self.in_res, self.stride)


def arch_layers(space: SearchSpace, arch: ArchConfig, in_chans: int, num_classes: int) -> list[LayerSpec]:
    """The layers of `arch` in forward order, with the exact shapes the extracted timm model has."""
    res = arch.resolution
    layers = [LayerSpec("stem", res, in_chans, space.stem_chs, kernel_size=3, stride=2)]
    res = conv_out(res, 2)
    layers.append(
        LayerSpec(
            "ds", res, space.stem_chs, space.first_chs, kernel_size=3, skip=space.stem_chs == space.first_chs
        )
    )
    in_chs = space.first_chs
    for i, st in enumerate(space.stages):
        out_chs = space.stage_chs(i, arch.width_mults[i])
        for j, (k, e) in enumerate(zip(arch.kernel_sizes[i], arch.exp_ratios[i])):
            stride = st.stride if j == 0 else 1
            layers.append(
                LayerSpec(
                    "mbconv",
                    res,
                    in_chs,
                    out_chs,
                    mid_chs=make_divisible(in_chs * e),
                    kernel_size=k,
                    stride=stride,
                    skip=stride == 1 and in_chs == out_chs,
                )
            )
            res, in_chs = conv_out(res, stride), out_chs
    layers.append(LayerSpec("head", res, in_chs, space.head_chs, mid_chs=num_classes))
    return layers


def space_layers(space: SearchSpace, in_chans: int, num_classes: int) -> list[LayerSpec]:
    """Every distinct layer any subnet of `space` can contain (what `arch_layers` can return), in order."""
    layers: dict[str, LayerSpec] = {}

    def add(spec: LayerSpec) -> None:
        layers.setdefault(spec.key, spec)

    for res in space.resolutions:
        add(LayerSpec("stem", res, in_chans, space.stem_chs, kernel_size=3, stride=2))
        res = conv_out(res, 2)
        add(
            LayerSpec(
                "ds",
                res,
                space.stem_chs,
                space.first_chs,
                kernel_size=3,
                skip=space.stem_chs == space.first_chs,
            )
        )
        in_options = [space.first_chs]
        for i, st in enumerate(space.stages):
            outs = [space.stage_chs(i, w) for w in st.width_mults]
            for out_chs in outs:
                for k in st.kernel_sizes:
                    for e in st.exp_ratios:
                        for in_chs in in_options:
                            mid = _mid(in_chs, e)
                            skip = st.stride == 1 and in_chs == out_chs
                            add(
                                LayerSpec(
                                    "mbconv", res, in_chs, out_chs, mid_chs=mid, kernel_size=k, stride=st.stride,
                                    skip=skip,
                                )
                            )  # fmt: skip
                        if max(st.depths) > 1:
                            add(
                                LayerSpec(
                                    "mbconv",
                                    conv_out(res, st.stride),
                                    out_chs,
                                    out_chs,
                                    mid_chs=_mid(out_chs, e),
                                    kernel_size=k,
                                    stride=1,
                                    skip=True,
                                )
                            )
            res, in_options = conv_out(res, st.stride), outs
        for in_chs in in_options:
            add(LayerSpec("head", res, in_chs, space.head_chs, mid_chs=num_classes))
    return list(layers.values())


def _mid(in_chs: int, exp_ratio: float) -> int:
    return make_divisible(in_chs * exp_ratio)
