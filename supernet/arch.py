"""One subnet of the search space: resolution, per-stage width and depth, per-block kernel and expand."""

from __future__ import annotations

import json
import math
import numbers
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ArchError
from .jsonfile import parse_json, read_json

if TYPE_CHECKING:
    from .space import SearchSpace

_STAGE = r"w(?P<w>\d+(\.\d+)?)d(?P<d>\d+)k(?P<k>\d+(\.\d+)*)e(?P<e>\d+(\.\d+)*)"
_STAGE_RE = re.compile(f"^{_STAGE}$", re.ASCII)  # ASCII digits only: int() would take any script
_ARCH_RE = re.compile(
    r"r\d+(_"
    + _STAGE.replace("?P<w>", "").replace("?P<d>", "").replace("?P<k>", "").replace("?P<e>", "")
    + ")+",
    re.ASCII,
)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _int(field: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArchError(f"arch {field} holds {value!r}; allowed: integers")
    return int(value)


def _float(field: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ArchError(f"arch {field} holds {value!r}; allowed: finite numbers")
    return float(value)


def _seq(field: str, value) -> list | tuple:
    if not isinstance(value, (list, tuple)):
        raise ArchError(f"arch {field} holds {value!r}; allowed: a list")
    return value


@dataclass(frozen=True)
class ArchConfig:
    """A subnet. Per-block lists hold exactly `depths[i]` entries: only active blocks are described,
    so two configs are equal exactly when they describe the same network."""

    resolution: int
    width_mults: tuple[float, ...]
    depths: tuple[int, ...]
    kernel_sizes: tuple[tuple[int, ...], ...]
    exp_ratios: tuple[tuple[float, ...], ...]

    def __post_init__(self) -> None:
        # Normalise lists (from JSON) to tuples so configs hash and compare by value; refuse what would
        # only convert by accident (a float depth, a string kernel, a bool).
        object.__setattr__(self, "resolution", _int("resolution", self.resolution))
        object.__setattr__(
            self,
            "width_mults",
            tuple(_float("width_mults", w) for w in _seq("width_mults", self.width_mults)),
        )
        object.__setattr__(self, "depths", tuple(_int("depths", d) for d in _seq("depths", self.depths)))
        object.__setattr__(
            self,
            "kernel_sizes",
            tuple(
                tuple(_int("kernel_sizes", k) for k in _seq("kernel_sizes", ks))
                for ks in _seq("kernel_sizes", self.kernel_sizes)
            ),
        )
        object.__setattr__(
            self,
            "exp_ratios",
            tuple(
                tuple(_float("exp_ratios", e) for e in _seq("exp_ratios", es))
                for es in _seq("exp_ratios", self.exp_ratios)
            ),
        )

    @property
    def num_stages(self) -> int:
        return len(self.depths)

    def to_dict(self) -> dict:
        return {
            k: (list(map(list, v)) if k in ("kernel_sizes", "exp_ratios") else v)
            for k, v in asdict(self).items()
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict) -> ArchConfig:
        fields = ("resolution", "width_mults", "depths", "kernel_sizes", "exp_ratios")
        if not isinstance(data, dict):
            raise ArchError(f"an arch must be a JSON object with fields {', '.join(fields)}")
        missing = [f for f in fields if f not in data]
        extra = [k for k in data if k not in fields]
        if missing or extra:
            raise ArchError(
                f"arch fields wrong: missing {missing or 'none'}, unknown {extra or 'none'}; "
                f"expected {', '.join(fields)}"
            )
        return cls(**{f: data[f] for f in fields})

    @classmethod
    def from_json(cls, text: str, where: str = "arch") -> ArchConfig:
        return cls.from_dict(parse_json(text, where, ArchError))

    @classmethod
    def load(cls, path: str | Path) -> ArchConfig:
        """Load an arch from a JSON file or, if `path` is a canonical arch string, from that string."""
        p = Path(path)
        if p.is_file():
            try:
                return cls.from_dict(read_json(p, "arch file", ArchError))
            except ArchError as e:
                msg = str(e)
                raise ArchError(msg if str(p) in msg else f"arch file {p}: {msg.removeprefix('arch ')}")
        text = str(path).strip()
        if _ARCH_RE.fullmatch(text) or (re.match(r"r\d", text) and "/" not in text and p.suffix != ".json"):
            return cls.from_string(text)  # a string, or one with a typo: its own error says which part
        what = "is a folder" if p.is_dir() else "is not a regular file" if p.exists() else "not found"
        raise ArchError(
            f"arch file {what}: {path} (give an arch JSON file or a canonical arch string such as "
            "r32_w1d2k3.5e6.4_w0.75d1k3e3)"
        )

    def __str__(self) -> str:
        """Canonical short form, e.g. `r32_w1d2k35e64_w0.75d1k7e3`."""
        stages = [
            f"w{_fmt(w)}d{d}k{'.'.join(map(str, ks))}e{'.'.join(map(_fmt, es))}"
            for w, d, ks, es in zip(self.width_mults, self.depths, self.kernel_sizes, self.exp_ratios)
        ]
        return "_".join([f"r{self.resolution}", *stages])

    @classmethod
    def from_string(cls, text: str) -> ArchConfig:
        parts = text.strip().split("_")
        if not parts[0].startswith("r") or not (parts[0][1:].isascii() and parts[0][1:].isdigit()):
            raise ArchError(f"arch string must start with r<resolution>, got {parts[0]!r}")
        if len(parts) < 2:
            raise ArchError(
                f"arch string {text.strip()!r} has no stages; allowed: r<resolution>_<stage>_<stage>..."
            )
        widths, depths, kernels, exps = [], [], [], []
        for part in parts[1:]:
            m = _STAGE_RE.match(part)
            if not m:
                raise ArchError(f"arch string stage {part!r} is not of the form w<mult>d<depth>k<k.k>e<e.e>")
            widths.append(float(m["w"]))
            depths.append(int(m["d"]))
            kernels.append(tuple(int(k) for k in m["k"].split(".")))
            exps.append(tuple(float(e) for e in m["e"].split(".")))
        return cls(
            int(parts[0][1:]),
            width_mults=tuple(widths),
            depths=tuple(depths),
            kernel_sizes=tuple(kernels),
            exp_ratios=tuple(exps),
        )

    def validate(self, space: SearchSpace) -> ArchConfig:
        """Raise ArchError naming the first field outside `space`, its value and the allowed values."""

        def bad(field: str, value, allowed) -> ArchError:
            allowed_s = ", ".join(_fmt(a) if isinstance(a, float) else str(a) for a in allowed)
            return ArchError(f"arch {field}={value} is not in the search space; allowed: {allowed_s}")

        if self.resolution not in space.resolutions:
            raise bad("resolution", self.resolution, space.resolutions)
        n = len(space.stages)
        for name in ("width_mults", "depths", "kernel_sizes", "exp_ratios"):
            if len(getattr(self, name)) != n:
                raise ArchError(f"arch {name} has {len(getattr(self, name))} stages; the space has {n}")
        for i, st in enumerate(space.stages):
            if self.width_mults[i] not in st.width_mults:
                raise bad(f"width_mults[{i}]", _fmt(self.width_mults[i]), st.width_mults)
            if self.depths[i] not in st.depths:
                raise bad(f"depths[{i}]", self.depths[i], st.depths)
            for name, allowed in (("kernel_sizes", st.kernel_sizes), ("exp_ratios", st.exp_ratios)):
                blocks = getattr(self, name)[i]
                if len(blocks) != self.depths[i]:
                    raise ArchError(
                        f"arch {name}[{i}] has {len(blocks)} entries; it needs one per active block "
                        f"(depths[{i}]={self.depths[i]})"
                    )
                for j, v in enumerate(blocks):
                    if v not in allowed:
                        raise bad(f"{name}[{i}][{j}]", _fmt(v), allowed)
        return self
