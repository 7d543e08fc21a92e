"""The accelerator an FPGA cost model describes: a DPU-like tiled int-N engine, its board and presets.

Every figure this configuration produces is an *estimate*. Presets marked calibrated had their four
efficiency/overhead fields fitted to the Vitis AI 2.5 model-zoo end-to-end figures (see docs/fpga.md);
the rest of their fields are design inputs (DPU size, clock) or board assumptions (bandwidth, buffers).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from supernet.errors import SupernetError
from supernet.files import atomic_write_text
from supernet.jsonfile import read_yaml


class FpgaConfigError(SupernetError):
    """A malformed FPGA accelerator description or an unknown preset."""


def lut_per_multiplier(weight_bits: int, act_bits: int) -> int:
    """LUTs of one `weight_bits x act_bits` multiplier built from fabric (FINN-R, Blott et al. 2018):
    (2 * ceil((b_w + b_a) / 6) - 1) * (b_w + b_a). 8x8 -> 80, 4x8 -> 36, 4x4 -> 24, 2x2 -> 4."""
    total = weight_bits + act_bits
    return (2 * math.ceil(total / 6) - 1) * total


def macs_per_dsp(weight_bits: int, act_bits: int) -> int:
    """MACs one DSP48E2 performs per DSP clock: operands up to 4 bits pack four products, up to 8 bits
    two (Xilinx's int8 packing shares one input), wider operands one. Uses the wider operand."""
    bits = max(weight_bits, act_bits)
    return 4 if bits <= 4 else 2 if bits <= 8 else 1


_INT_FIELDS = {
    "cores", "pixel_parallel", "in_parallel", "out_parallel", "dw_pixel_parallel", "weight_bits",
    "act_bits", "dsp_clock_mult", "dsp_available", "lut_available",
}  # fmt: skip
_FRACTION_FIELDS = {"mem_efficiency", "compute_efficiency"}
_NONNEG_FIELDS = {"op_overhead_cycles", "host_overhead_ms"}


@dataclass(frozen=True)
class FpgaConfig:
    """A tiled CNN accelerator (Xilinx DPU style) on an FPGA board.

    Array: `pixel_parallel` (PP) x `in_parallel` (ICP) x `out_parallel` (OCP) MACs per cycle per core for
    standard convs; depthwise, pooling and element-wise ops use `dw_pixel_parallel` x ICP lanes with no
    output-channel reduction. `compute_efficiency` is the sustained fraction of that schedule,
    `mem_efficiency` the sustained fraction of `bandwidth_gbps` (off-chip bandwidth one core can use),
    `op_overhead_cycles` a fixed cost per op (instruction fetch, pipeline fill) and `host_overhead_ms`
    a fixed cost per inference (runner, input/output transfer). `multiplier` says whether the array's
    multipliers are DSPs ('dsp', `dsp_clock_mult` = 2 for double-clocked DSPs) or fabric LUTs ('lut').
    `*_available` fields describe the device for the resource report; `buffer_kb` is on-chip buffer per core.
    """

    name: str
    device: str
    clock_mhz: float
    bandwidth_gbps: float
    cores: int = 1
    pixel_parallel: int = 8
    in_parallel: int = 16
    out_parallel: int = 16
    dw_pixel_parallel: int = 4
    weight_bits: int = 8
    act_bits: int = 8
    multiplier: str = "dsp"
    dsp_clock_mult: int = 2
    buffer_kb: float = 1024.0
    mem_efficiency: float = 0.5
    compute_efficiency: float = 0.8
    op_overhead_cycles: float = 0.0
    host_overhead_ms: float = 0.5
    dsp_available: int = 0
    lut_available: int = 0
    onchip_kb_available: float = 0.0
    calibrated: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("name", "device"):
                if not isinstance(value, str) or not value:
                    raise FpgaConfigError(
                        f"fpga config field {f.name} must be a non-empty string, got {value!r}"
                    )
            elif f.name == "multiplier":
                if value not in ("dsp", "lut"):
                    raise FpgaConfigError(
                        f"fpga config field multiplier must be 'dsp' or 'lut', got {value!r}"
                    )
            elif f.name == "calibrated":
                if not isinstance(value, bool):
                    raise FpgaConfigError(
                        f"fpga config field calibrated must be true or false, got {value!r}"
                    )
            else:
                object.__setattr__(self, f.name, _number(f.name, value))
        for bits in ("weight_bits", "act_bits"):
            if not 1 <= getattr(self, bits) <= 16:
                raise FpgaConfigError(f"fpga config field {bits} must be 1..16, got {getattr(self, bits)}")

    @property
    def macs_per_cycle(self) -> int:
        """Peak standard-conv MACs per clock of one core."""
        return self.pixel_parallel * self.in_parallel * self.out_parallel

    @property
    def bytes_per_cycle(self) -> float:
        """Sustained off-chip bytes per accelerator clock for one core."""
        return self.bandwidth_gbps * 1e3 * self.mem_efficiency / self.clock_mhz

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FpgaConfig:
        allowed = [f.name for f in fields(cls)]
        if not isinstance(data, dict):
            raise FpgaConfigError(f"an fpga config must be a mapping with fields {', '.join(allowed)}")
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise FpgaConfigError(
                f"unknown fpga config field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}"
            )
        required = [f.name for f in fields(cls) if f.default is dataclasses.MISSING]
        missing = [k for k in required if k not in data]
        if missing:
            raise FpgaConfigError(f"fpga config lacks required field(s) {', '.join(missing)}")
        return cls(**data)

    def replace(self, **changes) -> FpgaConfig:
        """A copy with some fields changed, validated like any other config. The copy no longer counts as
        calibrated unless `calibrated=True` is passed (e.g. after refitting it)."""
        return self.from_dict({**self.to_dict(), "calibrated": False, **changes})

    def with_bits(self, weight_bits: int, act_bits: int) -> FpgaConfig:
        """The same DSP budget at other bit-widths: narrower operands pack more MACs per DSP, so the
        input-channel parallelism grows (or shrinks) by the packing ratio. Efficiencies are kept, so the
        result is an extrapolation; the returned config is marked uncalibrated."""
        ratio = macs_per_dsp(weight_bits, act_bits) / macs_per_dsp(self.weight_bits, self.act_bits)
        in_parallel = (
            max(1, round(self.in_parallel * ratio)) if self.multiplier == "dsp" else self.in_parallel
        )
        return self.replace(
            weight_bits=weight_bits, act_bits=act_bits, in_parallel=in_parallel,
            name=f"{self.name}-w{weight_bits}a{act_bits}",
        )  # fmt: skip

    def fingerprint(self) -> str:
        """16 hex chars of the config's content: recorded in lookup tables built from it."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> FpgaConfig:
        path = Path(path)
        if not path.is_file():
            raise FpgaConfigError(
                f"fpga config file {path} does not exist; presets: {', '.join(fpga_presets())}"
            )
        return cls.from_dict(read_yaml(path, "fpga config file", FpgaConfigError))  # YAML reads JSON too

    @classmethod
    def preset(cls, name: str) -> FpgaConfig:
        if name not in _PRESETS:
            raise FpgaConfigError(f"unknown fpga preset {name!r}; presets: {', '.join(fpga_presets())}")
        return cls.from_dict(_PRESETS[name])

    @classmethod
    def resolve(cls, name_or_path: str | Path) -> FpgaConfig:
        """A preset name or a YAML/JSON file describing the accelerator."""
        return cls.preset(str(name_or_path)) if str(name_or_path) in _PRESETS else cls.load(name_or_path)


def _number(name: str, value) -> float | int:
    """Validate one numeric field at the edge, one-line error naming the field and what is allowed."""
    is_int = name in _INT_FIELDS
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and is_int:
        ok = float(value).is_integer()
    kind = "an integer" if is_int else "a number"
    if not ok:
        raise FpgaConfigError(f"fpga config field {name} must be {kind}, got {value!r}")
    value = int(value) if is_int else float(value)
    if name in _FRACTION_FIELDS and not 0 < value <= 1:
        raise FpgaConfigError(f"fpga config field {name} must be in (0, 1], got {value}")
    if name in _NONNEG_FIELDS or name.endswith("_available"):
        if value < 0:
            raise FpgaConfigError(f"fpga config field {name} must be >= 0, got {value}")
    elif name not in _FRACTION_FIELDS and value <= 0:
        raise FpgaConfigError(f"fpga config field {name} must be > 0, got {value}")
    return value


def fpga_presets() -> list[str]:
    """Names accepted by `FpgaConfig.preset` (and by `--fpga` wherever a config is asked for)."""
    return sorted(_PRESETS)


# Fitted by `experiments/fpga_check.py --fit` on the eight ZCU102 model-zoo points (docs/fpga.md).
_CALIBRATION = dict(
    compute_efficiency=0.867, mem_efficiency=0.554, op_overhead_cycles=5071.0, host_overhead_ms=0.0
)

# B4096 = PP 8 x ICP 16 x OCP 16 (2048 int8 MACs/clock). Bandwidth: peak of a 64-bit DDR4-2133 PS memory
# (assumed for both boards; the fitted mem_efficiency absorbs the real figure). Device resources are the
# Zynq UltraScale+ product-table values of the part (DSP48E2 slices, LUTs, BRAM+URAM in KiB).
_PRESETS: dict[str, dict] = {
    "zcu102-b4096": dict(
        name="zcu102-b4096", device="ZCU102 (XCZU9EG), 3x DPUCZDX8G B4096 @ 281 MHz", clock_mhz=281.0,
        bandwidth_gbps=17.06, cores=3, buffer_kb=1024.0,
        dsp_available=2520, lut_available=274080, onchip_kb_available=912 * 4.5, calibrated=True,
        **_CALIBRATION,
    ),
    "zcu104-b4096": dict(
        name="zcu104-b4096", device="ZCU104 (XCZU7EV), 2x DPUCZDX8G B4096 @ 300 MHz", clock_mhz=300.0,
        bandwidth_gbps=17.06, cores=2, buffer_kb=1024.0,
        dsp_available=1728, lut_available=230400, onchip_kb_available=312 * 4.5 + 96 * 36, calibrated=True,
        **_CALIBRATION,
    ),
    # Small edge part (Ultra96-class XCZU3EG): one B1152 (PP 4 x ICP 12 x OCP 12). Not checked against any
    # published figure: the ZCU102 efficiencies are carried over, and its LPDDR4 (32-bit) caps bandwidth.
    "zu3eg-b1152": dict(
        name="zu3eg-b1152", device="XCZU3EG (Ultra96-class), 1x DPUCZDX8G B1152 @ 300 MHz", clock_mhz=300.0,
        bandwidth_gbps=8.5, cores=1, pixel_parallel=4, in_parallel=12, out_parallel=12, dw_pixel_parallel=2,
        buffer_kb=512.0, dsp_available=360, lut_available=70560, onchip_kb_available=216 * 4.5,
        **_CALIBRATION,
    ),
}  # fmt: skip
