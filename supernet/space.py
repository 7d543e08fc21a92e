"""The search space: what an elastic MobileNetV2 may become. Loaded from presets or YAML/JSON files."""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path

import yaml
from timm.layers import make_divisible

from .arch import ArchConfig
from .checks import check_float, check_int
from .errors import SpaceError
from .files import atomic_write_text
from .jsonfile import read_yaml

PRESET_DIR = Path(__file__).parent / "presets"


# What a field may hold (inclusive ranges). Generous, but a typo (1e300, a bool, 2.7 channels, NaN) is
# refused here in one line rather than failing later deep inside model building or not at all.
_INTS = {
    "resolutions": (8, 1024),  # as `supernet train --img-size`
    "depths": (1, 32),
    "kernel_sizes": (1, 15),
    "base_chs": (1, 4096),
    "stem_chs": (1, 4096),
    "first_chs": (1, 4096),
    "head_chs": (1, 16384),
    "channel_divisor": (1, 1024),
}
_FLOATS = {"width_mults": (0.0, 8.0), "exp_ratios": (0.0, 16.0)}  # (lo, hi]


def _number(name: str, v, where: str):
    """`v` as the field's kind, within its range; anything else is one SpaceError naming the field."""
    if name in _INTS:
        if isinstance(v, float) and v.is_integer():
            v = int(v)  # 2.0 from a JSON writer means 2
        lo, hi = _INTS[name]
        return check_int(f"{where}{name}", v, lo=lo, hi=hi, error=SpaceError)
    lo, hi = _FLOATS[name]
    return check_float(f"{where}{name}", v, lo=lo, hi=hi, lo_open=True, error=SpaceError)


def _sorted_unique(name: str, values, where: str = "space field ") -> tuple:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise SpaceError(f"{where}{name} must be a list of numbers, got {values!r}")
    vals = tuple(sorted({_number(name, v, where) for v in values}))
    if not vals:
        raise SpaceError(f"{where}{name} must list at least one choice")
    return vals


@dataclass(frozen=True)
class StageSpace:
    """One elastic stage of inverted-residual blocks; only the first block strides."""

    base_chs: int
    stride: int
    depths: tuple[int, ...]
    width_mults: tuple[float, ...] = (1.0,)
    kernel_sizes: tuple[int, ...] = (3,)
    exp_ratios: tuple[float, ...] = (6.0,)

    def __post_init__(self) -> None:
        for name in ("depths", "width_mults", "kernel_sizes", "exp_ratios"):
            object.__setattr__(self, name, _sorted_unique(name, getattr(self, name), "stage "))
        if self.stride not in (1, 2) or isinstance(self.stride, bool):
            raise SpaceError(f"stage stride {self.stride!r} is not allowed; allowed: 1, 2")
        object.__setattr__(self, "stride", int(self.stride))
        object.__setattr__(self, "base_chs", _number("base_chs", self.base_chs, "stage "))
        if any(k % 2 == 0 for k in self.kernel_sizes):
            raise SpaceError(
                f"stage kernel_sizes {list(self.kernel_sizes)} must be odd; allowed e.g. 3, 5, 7"
            )


def _stage(i: int, s) -> StageSpace:
    """Stage `i` of a space; its errors name it ("stage 2 kernel_sizes ...")."""
    if isinstance(s, StageSpace):
        return s
    try:
        return StageSpace(**s)
    except SpaceError as e:
        raise SpaceError(re.sub(r"^stage ", f"stage {i} ", str(e))) from None


@dataclass(frozen=True)
class SearchSpace:
    """Stem (stride 2, fixed width) -> one fixed depthwise-separable block -> elastic stages -> 1x1 head."""

    name: str
    resolutions: tuple[int, ...]
    stem_chs: int
    first_chs: int
    stages: tuple[StageSpace, ...]
    head_chs: int
    channel_divisor: int = 8

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise SpaceError(f"space field name must be a non-empty string, got {self.name!r}")
        object.__setattr__(self, "resolutions", _sorted_unique("resolutions", self.resolutions))
        for name in ("stem_chs", "first_chs", "head_chs", "channel_divisor"):
            object.__setattr__(self, name, _number(name, getattr(self, name), "space field "))
        object.__setattr__(self, "stages", tuple(_stage(i, s) for i, s in enumerate(self.stages)))
        if not self.stages:
            raise SpaceError("a search space needs at least one elastic stage")
        for i, st in enumerate(self.stages):
            chs = [self.stage_chs(i, w) for w in st.width_mults]
            if len(set(chs)) != len(chs):
                raise SpaceError(
                    f"stage {i} width_mults {list(st.width_mults)} round to duplicate channel counts {chs} "
                    f"with channel_divisor {self.channel_divisor}; use a smaller divisor or other multipliers"
                )

    # ---- channels -------------------------------------------------------------------------
    def stage_chs(self, stage: int, width_mult: float) -> int:
        return make_divisible(self.stages[stage].base_chs * width_mult, self.channel_divisor)

    def max_stage_chs(self, stage: int) -> int:
        return self.stage_chs(stage, max(self.stages[stage].width_mults))

    # ---- canonical archs ------------------------------------------------------------------
    def _uniform(self, pick) -> ArchConfig:
        depths = tuple(pick(s.depths) for s in self.stages)
        return ArchConfig(
            resolution=pick(self.resolutions),
            width_mults=tuple(pick(s.width_mults) for s in self.stages),
            depths=depths,
            kernel_sizes=tuple((pick(s.kernel_sizes),) * d for s, d in zip(self.stages, depths)),
            exp_ratios=tuple((pick(s.exp_ratios),) * d for s, d in zip(self.stages, depths)),
        )

    def smallest(self) -> ArchConfig:
        return self._uniform(min)

    def largest(self) -> ArchConfig:
        return self._uniform(max)

    def sample(self, rng: random.Random) -> ArchConfig:
        """Uniform over each choice independently (the BigNAS/OFA sampler)."""
        depths = tuple(rng.choice(s.depths) for s in self.stages)
        return ArchConfig(
            resolution=rng.choice(self.resolutions),
            width_mults=tuple(rng.choice(s.width_mults) for s in self.stages),
            depths=depths,
            kernel_sizes=tuple(
                tuple(rng.choice(s.kernel_sizes) for _ in range(d)) for s, d in zip(self.stages, depths)
            ),
            exp_ratios=tuple(
                tuple(rng.choice(s.exp_ratios) for _ in range(d)) for s, d in zip(self.stages, depths)
            ),
        )

    def mutate(self, arch: ArchConfig, prob: float, rng: random.Random) -> ArchConfig:
        """Resample each gene with probability `prob`; blocks a grown stage gains are drawn fresh."""

        def maybe(current, choices):
            return rng.choice(choices) if rng.random() < prob else current

        widths, depths, kernels, exps = [], [], [], []
        for i, st in enumerate(self.stages):
            d = maybe(arch.depths[i], st.depths)
            ks = [maybe(k, st.kernel_sizes) for k in arch.kernel_sizes[i][:d]]
            es = [maybe(e, st.exp_ratios) for e in arch.exp_ratios[i][:d]]
            ks += [rng.choice(st.kernel_sizes) for _ in range(d - len(ks))]
            es += [rng.choice(st.exp_ratios) for _ in range(d - len(es))]
            widths.append(maybe(arch.width_mults[i], st.width_mults))
            depths.append(d)
            kernels.append(tuple(ks))
            exps.append(tuple(es))
        return ArchConfig(
            maybe(arch.resolution, self.resolutions),
            width_mults=tuple(widths),
            depths=tuple(depths),
            kernel_sizes=tuple(kernels),
            exp_ratios=tuple(exps),
        )

    def crossover(self, a: ArchConfig, b: ArchConfig, rng: random.Random) -> ArchConfig:
        """Each gene from either parent; a block only one parent has comes from that parent."""
        widths, depths, kernels, exps = [], [], [], []
        for i in range(len(self.stages)):
            d = rng.choice((a.depths[i], b.depths[i]))
            ks, es = [], []
            for j in range(d):
                donors = [p for p in (a, b) if j < p.depths[i]]
                ks.append(rng.choice(donors).kernel_sizes[i][j])
                es.append(rng.choice(donors).exp_ratios[i][j])
            widths.append(rng.choice((a.width_mults[i], b.width_mults[i])))
            depths.append(d)
            kernels.append(tuple(ks))
            exps.append(tuple(es))
        return ArchConfig(
            rng.choice((a.resolution, b.resolution)),
            width_mults=tuple(widths),
            depths=tuple(depths),
            kernel_sizes=tuple(kernels),
            exp_ratios=tuple(exps),
        )

    def num_archs(self) -> int:
        """Number of distinct subnets (resolution included)."""
        total = len(self.resolutions)
        for st in self.stages:
            per_block = len(st.kernel_sizes) * len(st.exp_ratios)
            total *= len(st.width_mults) * sum(per_block**d for d in st.depths)
        return total

    def describe(self) -> str:
        return f"{self.name}: {len(self.stages)} elastic stages, about 10^{math.log10(self.num_archs()):.1f} subnets"

    # ---- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        d["resolutions"] = list(self.resolutions)
        d["stages"] = [
            {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.items()} for s in d["stages"]
        ]
        return d

    def fingerprint(self) -> str:
        """Hash of the space's content (not its name): tables and checkpoints record it to catch mismatches."""
        content = {k: v for k, v in self.to_dict().items() if k != "name"}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict) -> SearchSpace:
        if not isinstance(data, dict):
            raise SpaceError("a search space must be a mapping of fields")
        allowed = [f.name for f in fields(cls)]
        unknown = [k for k in data if k not in allowed]
        missing = [f.name for f in fields(cls) if f.name not in data and f.name != "channel_divisor"]
        if unknown or missing:
            raise SpaceError(
                f"space fields wrong: missing {missing or 'none'}, unknown {unknown or 'none'}; allowed {allowed}"
            )
        stage_fields = [f.name for f in fields(StageSpace)]
        if not isinstance(data["stages"], list):
            raise SpaceError(f"space field stages must be a list of stages, got {data['stages']!r}")
        for i, s in enumerate(data["stages"]):
            if not isinstance(s, dict):
                raise SpaceError(f"space stage {i} must be a mapping of fields {stage_fields}, got {s!r}")
            unknown = [k for k in s if k not in stage_fields]
            missing = [f.name for f in fields(StageSpace) if f.default is MISSING and f.name not in s]
            if unknown or missing:
                raise SpaceError(
                    f"space stage {i} fields wrong: missing {missing or 'none'}, unknown {unknown or 'none'}; "
                    f"allowed {stage_fields}"
                )
        try:
            return cls(**data)
        except TypeError as e:
            raise SpaceError(f"malformed search space: {e}") from None

    @classmethod
    def load(cls, path: str | Path) -> SearchSpace:
        p = Path(path)
        if not p.is_file():
            raise SpaceError(f"search space file not found: {p}")
        data = read_yaml(p, "search space file", SpaceError)
        try:
            return cls.from_dict(data)
        except SpaceError as e:
            raise SpaceError(f"search space file {p}: {e}") from None

    def save(self, path: str | Path) -> None:
        p = Path(path)
        text = (
            json.dumps(self.to_dict(), indent=2)
            if p.suffix == ".json"
            else yaml.safe_dump(self.to_dict(), sort_keys=False)
        )
        atomic_write_text(p, text)

    @staticmethod
    def preset_names() -> list[str]:
        return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))

    @classmethod
    def preset(cls, name: str) -> SearchSpace:
        path = PRESET_DIR / f"{name}.yaml"
        if not path.is_file():
            raise SpaceError(
                f"unknown search-space preset {name!r}; available: {', '.join(cls.preset_names())}"
            )
        return cls.load(path)

    @classmethod
    def resolve(cls, name_or_path: str) -> SearchSpace:
        """A preset name, or a path to a YAML/JSON space file."""
        if name_or_path in cls.preset_names():
            return cls.preset(name_or_path)
        if Path(name_or_path).suffix in (".yaml", ".yml", ".json"):
            return cls.load(name_or_path)
        raise SpaceError(
            f"unknown search space {name_or_path!r}; give a preset ({', '.join(cls.preset_names())}) or a .yaml/.json file"
        )
