"""`fpga-int8`: an analytic cost model of a quantized CNN accelerator on an FPGA (Xilinx DPU style).

Per op, cycles = max(compute cycles, memory cycles) + a fixed op overhead (a roofline with double
buffering). Compute cycles tile the output pixels, input and output channels over the processing-element
array, so ceilings charge channel counts that do not fill it; depthwise convs get no output-channel
reduction and a narrower pixel parallelism, so most of the array idles. Memory cycles are the bytes moved
(weights, input and output feature maps at their bit-widths, with reloads when a working set exceeds
the on-chip buffer) over the sustained off-chip bandwidth. A network adds a per-inference host overhead.

All numbers this model returns are estimates (see docs/fpga.md for the published figures it was checked
against and its error). The latency package turns it into a `LatencyTable` with target `fpga-int8`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from supernet import ArchConfig, SearchSpace

from .fpga_config import FpgaConfig, FpgaConfigError, fpga_presets, lut_per_multiplier, macs_per_dsp
from .layers import LayerSpec, arch_layers, conv_out

__all__ = [
    "FpgaConfig",
    "FpgaConfigError",
    "FpgaCostModel",
    "FpgaOp",
    "LayerCost",
    "OpCost",
    "ResourceReport",
    "fpga_presets",
    "layer_ops",
    "lut_per_multiplier",
    "macs_per_dsp",
]

OP_KINDS = ("conv", "dwconv", "pool", "add")


@dataclass(frozen=True)
class FpgaOp:
    """One accelerator instruction group. 'conv' (standard or 1x1 conv, or a classifier at in_res 1),
    'dwconv' (depthwise), 'pool' (kernel_size x kernel_size window; global when kernel_size == in_res)
    or 'add' (element-wise sum of two feature maps of in_chs channels)."""

    kind: str
    in_res: int
    in_chs: int
    out_chs: int
    kernel_size: int = 1
    stride: int = 1

    def __post_init__(self) -> None:
        if self.kind not in OP_KINDS:
            raise FpgaConfigError(f"unknown fpga op kind {self.kind!r}; allowed: {', '.join(OP_KINDS)}")

    @property
    def out_res(self) -> int:
        return conv_out(self.in_res, self.stride)

    @property
    def macs(self) -> int:
        pixels = self.out_res**2
        if self.kind == "conv":
            return pixels * self.in_chs * self.out_chs * self.kernel_size**2
        if self.kind == "dwconv":
            return pixels * self.out_chs * self.kernel_size**2
        return 0

    @property
    def weights(self) -> int:
        if self.kind == "conv":
            return self.in_chs * self.out_chs * self.kernel_size**2
        if self.kind == "dwconv":
            return self.out_chs * self.kernel_size**2
        return 0


def layer_ops(layer: LayerSpec) -> list[FpgaOp]:
    """The ops a `LayerSpec` runs as on the accelerator, in order (BN folded, activations fused)."""
    r, k, s = layer.in_res, layer.kernel_size, layer.stride
    if layer.kind == "stem":
        ops = [FpgaOp("conv", r, layer.in_chs, layer.out_chs, k, s)]
    elif layer.kind == "ds":
        ops = [FpgaOp("dwconv", r, layer.in_chs, layer.in_chs, k, s)]
        ops.append(FpgaOp("conv", ops[-1].out_res, layer.in_chs, layer.out_chs))
    elif layer.kind == "mbconv":
        ops = [
            FpgaOp("conv", r, layer.in_chs, layer.mid_chs),
            FpgaOp("dwconv", r, layer.mid_chs, layer.mid_chs, k, s),
            FpgaOp("conv", layer.out_res, layer.mid_chs, layer.out_chs),
        ]
    elif layer.kind == "head":  # 1x1 conv, global pool, classifier (mid_chs = num_classes)
        ops = [
            FpgaOp("conv", r, layer.in_chs, layer.out_chs),
            FpgaOp("pool", r, layer.out_chs, layer.out_chs, r, r),
            FpgaOp("conv", 1, layer.out_chs, layer.mid_chs),
        ]
    else:
        raise FpgaConfigError(f"unknown layer kind {layer.kind!r}; allowed: stem, ds, mbconv, head")
    if layer.skip:
        ops.append(FpgaOp("add", layer.out_res, layer.out_chs, layer.out_chs))
    return ops


@dataclass(frozen=True, kw_only=True)
class OpCost:
    """Estimated cost of one op on one core. `utilisation` = MACs / (cycles x peak MACs per cycle)."""

    op: FpgaOp
    macs: int
    bytes: float
    compute_cycles: float
    memory_cycles: float
    cycles: float
    ms: float
    utilisation: float

    @property
    def bound(self) -> str:
        return "memory" if self.memory_cycles > self.compute_cycles else "compute"


@dataclass(frozen=True, kw_only=True)
class LayerCost:
    """Estimated cost of one layer (sum of its ops); `bound` is what limits most of its cycles."""

    ops: tuple[OpCost, ...]
    macs: int
    bytes: float
    compute_cycles: float
    memory_cycles: float
    cycles: float
    ms: float
    utilisation: float
    bound: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ops"] = [{**asdict(o.op), **{k: v for k, v in asdict(o).items() if k != "op"}} for o in self.ops]
        return d


@dataclass(frozen=True, kw_only=True)
class ResourceReport:
    """Estimated resources of the configured accelerator (array multipliers and on-chip buffers only:
    accumulators, pooling and control logic are not counted) against what the device has."""

    name: str
    device: str
    cores: int
    macs_per_cycle: int
    peak_gops: float
    macs_per_dsp: int
    dsp: int
    dsp_available: int
    lut_per_mult: int
    lut: int
    lut_available: int
    onchip_kb: float
    onchip_kb_available: float
    fits: bool

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        def of(used, avail) -> str:
            return f"{used:,.0f} of {avail:,.0f} ({100 * used / avail:.0f}%)" if avail else f"{used:,.0f}"

        return "\n".join([
            f"{self.name}: {self.device} (estimates)",
            f"  array        {self.cores} core(s) x {self.macs_per_cycle} MACs/clock = {self.peak_gops:.0f} GOPS peak",
            f"  DSP          {of(self.dsp, self.dsp_available)}  [{self.macs_per_dsp} MACs per DSP]",
            f"  LUT (mult)   {of(self.lut, self.lut_available)}  [{self.lut_per_mult} LUTs per multiplier]",
            f"  on-chip KiB  {of(self.onchip_kb, self.onchip_kb_available)}",
            f"  fits         {'yes' if self.fits else 'NO'}",
        ])  # fmt: skip


class FpgaCostModel:
    """Estimated latency and resources of subnets on one `FpgaConfig` (single-core, single-image latency).

    `layer_cost(layer)` -> `LayerCost` (`.ms`, `.cycles`, `.compute_cycles`, `.memory_cycles`,
    `.utilisation`, `.bound`, per-op `.ops`); `predict_ms(layers)` = `overhead_ms` + sum of layer ms;
    `resource_report()` -> `ResourceReport`. Accepts `LayerSpec`s and raw `FpgaOp`s alike.
    """

    def __init__(self, config: FpgaConfig | str) -> None:
        self.config = config if isinstance(config, FpgaConfig) else FpgaConfig.resolve(config)
        self._cache: dict[LayerSpec | FpgaOp, LayerCost] = {}

    @property
    def overhead_ms(self) -> float:
        """Fixed per-inference cost, added once to a sum of layer costs."""
        return self.config.host_overhead_ms

    def op_cost(self, op: FpgaOp) -> OpCost:
        c = self.config
        out_pixels = op.out_res**2
        if op.kind == "conv":
            ideal = (
                math.ceil(out_pixels / c.pixel_parallel) * math.ceil(op.in_chs / c.in_parallel)
                * math.ceil(op.out_chs / c.out_parallel) * op.kernel_size**2
            )  # fmt: skip
        else:  # one lane per channel, no output-channel reduction
            window = op.kernel_size**2 if op.kind in ("dwconv", "pool") else 1
            ideal = (
                math.ceil(out_pixels / c.dw_pixel_parallel) * math.ceil(op.out_chs / c.in_parallel) * window
            )
        compute = ideal / c.compute_efficiency
        act_bytes = c.act_bits / 8
        weight_bytes = op.weights * c.weight_bits / 8
        in_bytes = op.in_res**2 * op.in_chs * act_bytes * (2 if op.kind == "add" else 1)
        out_bytes = out_pixels * op.out_chs * act_bytes
        moved = self._traffic(weight_bytes, in_bytes) + out_bytes
        memory = moved / c.bytes_per_cycle
        cycles = max(compute, memory) + c.op_overhead_cycles
        return OpCost(
            op=op, macs=op.macs, bytes=moved, compute_cycles=compute, memory_cycles=memory, cycles=cycles,
            ms=cycles / (c.clock_mhz * 1e3), utilisation=op.macs / (cycles * c.macs_per_cycle),
        )  # fmt: skip

    def _traffic(self, weight_bytes: float, in_bytes: float) -> float:
        """Bytes read when half the buffer holds weights and half input tiles: whichever operand does not
        fit is streamed once per tile of the other (the cheaper loop order is taken)."""
        half = self.config.buffer_kb * 1024 / 2
        return min(
            weight_bytes + in_bytes * max(1, math.ceil(weight_bytes / half)),
            in_bytes + weight_bytes * max(1, math.ceil(in_bytes / half)),
        )

    def layer_cost(self, layer: LayerSpec | FpgaOp) -> LayerCost:
        cost = self._cache.get(layer)
        if cost is None:
            ops = tuple(
                self.op_cost(op) for op in ([layer] if isinstance(layer, FpgaOp) else layer_ops(layer))
            )
            cycles = sum(o.cycles for o in ops)
            macs = sum(o.macs for o in ops)
            memory_share = sum(o.cycles for o in ops if o.bound == "memory")
            cost = LayerCost(
                ops=ops, macs=macs, bytes=sum(o.bytes for o in ops),
                compute_cycles=sum(o.compute_cycles for o in ops), memory_cycles=sum(o.memory_cycles for o in ops),
                cycles=cycles, ms=sum(o.ms for o in ops), utilisation=macs / (cycles * self.config.macs_per_cycle),
                bound="memory" if 2 * memory_share > cycles else "compute",
            )  # fmt: skip
            self._cache[layer] = cost
        return cost

    def breakdown(self, layers: Iterable[LayerSpec | FpgaOp]) -> list[LayerCost]:
        return [self.layer_cost(layer) for layer in layers]

    def predict_ms(self, layers: Iterable[LayerSpec | FpgaOp]) -> float:
        """Estimated single-image latency of a network given as its layers in forward order."""
        return self.overhead_ms + sum(self.layer_cost(layer).ms for layer in layers)

    def predict_arch_ms(self, space: SearchSpace, arch: ArchConfig, in_chans: int, num_classes: int) -> float:
        return self.predict_ms(arch_layers(space, arch, in_chans, num_classes))

    def resource_report(self) -> ResourceReport:
        c = self.config
        pes = c.macs_per_cycle * c.cores
        per_dsp = macs_per_dsp(c.weight_bits, c.act_bits)
        lut_mult = lut_per_multiplier(c.weight_bits, c.act_bits)
        dsp = math.ceil(pes / (per_dsp * c.dsp_clock_mult)) if c.multiplier == "dsp" else 0
        lut = pes * lut_mult if c.multiplier == "lut" else 0
        onchip = c.buffer_kb * c.cores
        fits = all(
            avail == 0 or used <= avail
            for used, avail in (
                (dsp, c.dsp_available),
                (lut, c.lut_available),
                (onchip, c.onchip_kb_available),
            )
        )
        return ResourceReport(
            name=c.name, device=c.device, cores=c.cores, macs_per_cycle=c.macs_per_cycle,
            peak_gops=2 * pes * c.clock_mhz / 1e3, macs_per_dsp=per_dsp, dsp=dsp, dsp_available=c.dsp_available,
            lut_per_mult=lut_mult, lut=lut, lut_available=c.lut_available, onchip_kb=onchip,
            onchip_kb_available=c.onchip_kb_available, fits=fits,
        )  # fmt: skip
