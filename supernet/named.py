"""Named members of the preset spaces: stock networks that a preset space contains exactly.

`mobilenetv2_100` (Sandler et al. 2018, timm's `mobilenetv2_100`) is the `mbv2-imagenet` subnet at 224 px
with width 1.0, depths 2,3,4,3,3,1, kernel 3 and expand 6 everywhere; its extracted weights load strictly
into `timm.create_model('mobilenetv2_100')` (tested).
"""

from __future__ import annotations

from .arch import ArchConfig
from .errors import ArchError
from .space import SearchSpace

_MBV2_DEPTHS = (2, 3, 4, 3, 3, 1)

NAMED_ARCHS: dict[str, tuple[str, ArchConfig]] = {
    "mobilenetv2_100": (
        "mbv2-imagenet",
        ArchConfig(
            resolution=224,
            width_mults=(1.0,) * 6,
            depths=_MBV2_DEPTHS,
            kernel_sizes=tuple((3,) * d for d in _MBV2_DEPTHS),
            exp_ratios=tuple((6.0,) * d for d in _MBV2_DEPTHS),
        ),
    ),
}


def named_arch(name: str, space: SearchSpace) -> ArchConfig:
    """The member `name` of `space`; ArchError when `space` is not the preset that holds it."""
    preset, arch = NAMED_ARCHS[name]
    if space.fingerprint() != SearchSpace.preset(preset).fingerprint():
        raise ArchError(f"{name} is a member of the {preset} preset, not of space {space.name}")
    return arch.validate(space)


def names_in(space: SearchSpace) -> list[str]:
    fp = space.fingerprint()
    return [n for n, (preset, _) in NAMED_ARCHS.items() if SearchSpace.preset(preset).fingerprint() == fp]


def resolve_arch(text: str, space: SearchSpace) -> ArchConfig:
    """An arch given as `smallest`, `largest`, a named member, a JSON file or a canonical string, checked
    against `space` (what every `--arch` and `Supernet.arch` take)."""
    if text in ("smallest", "largest"):
        return getattr(space, text)()
    if text in NAMED_ARCHS:
        return named_arch(text, space)
    return ArchConfig.load(text).validate(space)
