"""The `fpga-int8` cost model: roofline, array-fill losses, DSP/LUT arithmetic, configs and calibration."""

from __future__ import annotations

import math
import random
import time

import pytest

from latency.fpga import (
    FpgaConfig,
    FpgaConfigError,
    FpgaCostModel,
    FpgaOp,
    fpga_presets,
    layer_ops,
    lut_per_multiplier,
    macs_per_dsp,
)
from latency.fpga_reference import mobilenet_v2, mobilenet_v2_from_space, published_points
from latency.layers import LayerSpec, arch_layers
from supernet import SearchSpace, SupernetError


@pytest.fixture(scope="module")
def b4096() -> FpgaConfig:
    """ZCU102 preset without fixed overheads, so cycle counts are the roofline alone."""
    return FpgaConfig.preset("zcu102-b4096").replace(op_overhead_cycles=0.0, host_overhead_ms=0.0)


def test_cycles_are_the_roofline_max(b4096):
    model = FpgaCostModel(b4096.replace(op_overhead_cycles=100.0))
    for op in [
        FpgaOp("conv", 56, 128, 128, 3),
        FpgaOp("conv", 1, 1280, 1000),
        FpgaOp("dwconv", 28, 64, 64, 5, 2),
    ]:
        cost = model.op_cost(op)
        assert cost.cycles == pytest.approx(max(cost.compute_cycles, cost.memory_cycles) + 100.0)
        assert cost.ms == pytest.approx(cost.cycles / (b4096.clock_mhz * 1e3))


def test_classifier_is_memory_bound_and_wide_conv_is_compute_bound(b4096):
    model = FpgaCostModel(b4096)
    fc = model.op_cost(FpgaOp("conv", 1, 1280, 1000))  # 1.28 MB of weights, one pixel
    conv = model.op_cost(FpgaOp("conv", 56, 128, 128, 3))  # 462 M MACs on 0.8 MB of data
    assert fc.bound == "memory" and fc.memory_cycles > 5 * fc.compute_cycles
    assert conv.bound == "compute" and conv.compute_cycles > conv.memory_cycles
    # Memory cycles scale with bandwidth, compute cycles do not.
    faster = FpgaCostModel(b4096.replace(bandwidth_gbps=2 * b4096.bandwidth_gbps)).op_cost(
        FpgaOp("conv", 1, 1280, 1000)
    )
    assert faster.memory_cycles == pytest.approx(fc.memory_cycles / 2)
    assert faster.compute_cycles == fc.compute_cycles


def test_depthwise_leaves_most_of_the_array_idle(b4096):
    model = FpgaCostModel(b4096)
    dw = model.op_cost(FpgaOp("dwconv", 56, 128, 128, 3))
    full = model.op_cost(FpgaOp("conv", 56, 128, 128, 3))
    c = b4096
    expected = (
        math.ceil(56 * 56 / c.dw_pixel_parallel) * math.ceil(128 / c.in_parallel) * 9 / c.compute_efficiency
    )
    assert dw.compute_cycles == pytest.approx(expected)
    dw_fill = dw.macs / (dw.compute_cycles * c.macs_per_cycle)
    full_fill = full.macs / (full.compute_cycles * c.macs_per_cycle)
    assert dw_fill == pytest.approx(
        c.dw_pixel_parallel * c.in_parallel / c.macs_per_cycle * c.compute_efficiency
    )
    assert dw_fill < full_fill / 10
    # A depthwise-heavy net uses the array far less than a dense one (published: ~14% vs ~53%).
    mbv2 = FpgaCostModel("zcu102-b4096").breakdown(mobilenet_v2())
    mbv2_use = sum(x.macs for x in mbv2) / (sum(x.cycles for x in mbv2) * c.macs_per_cycle)
    assert mbv2_use < full.utilisation / 2


def test_channel_and_pixel_counts_are_charged_by_the_tile(b4096):
    model = FpgaCostModel(b4096)

    def compute(**kw) -> float:
        return model.op_cost(
            FpgaOp("conv", **{"in_res": 16, "in_chs": 32, "out_chs": 32, **kw})
        ).compute_cycles

    assert compute(out_chs=17) == compute(out_chs=32) > compute(out_chs=16)  # OCP = 16
    assert compute(in_chs=17) == compute(in_chs=32) > compute(in_chs=16)  # ICP = 16
    assert compute(in_res=3) == compute(in_res=4) == 2 * compute(in_res=2)  # 9, 16 px: 2 PP=8 tiles; 4 px: 1
    stem = model.op_cost(FpgaOp("conv", 224, 3, 32, 3, 2))  # 3 input channels fill 3 of 16 ICP lanes
    assert stem.macs / (stem.compute_cycles * b4096.macs_per_cycle) == pytest.approx(
        3 / 16 * b4096.compute_efficiency
    )


def test_dsp_packing_and_finn_r_lut_cost():
    assert [macs_per_dsp(w, a) for w, a in [(16, 16), (16, 8), (8, 8), (4, 8), (8, 4), (4, 4), (2, 2)]] == [
        1, 1, 2, 2, 2, 4, 4,
    ]  # fmt: skip
    assert [lut_per_multiplier(w, a) for w, a in [(8, 8), (4, 8), (4, 4), (2, 2)]] == [80, 36, 24, 4]
    b4096 = FpgaConfig.preset("zcu102-b4096")
    pes = b4096.macs_per_cycle * b4096.cores

    def dsp(**kw) -> int:
        return FpgaCostModel(b4096.replace(**kw)).resource_report().dsp

    # Double-clocked DSPs: 2048 MACs/clock per core -> 512 DSPs at int8, 256 at int4, 1024 at int16.
    assert dsp() == pes // 4 == 3 * 512
    assert dsp(weight_bits=4, act_bits=4) == pes // 8
    assert dsp(weight_bits=16, act_bits=16) == pes // 2
    assert dsp(dsp_clock_mult=1) == pes // 2
    lut = FpgaCostModel(b4096.replace(multiplier="lut")).resource_report()
    assert lut.dsp == 0 and lut.lut == pes * 80 and not lut.fits  # 491k LUTs do not fit a ZU9EG
    four_bit = FpgaCostModel(b4096.replace(multiplier="lut", weight_bits=4, act_bits=4)).resource_report()
    assert four_bit.lut == pes * 24


@pytest.mark.parametrize("same_dsps", [False, True])
def test_fewer_bits_never_cost_more(same_dsps):
    base = FpgaConfig.preset("zcu102-b4096")
    layers = mobilenet_v2_from_space()
    widths = [(16, 16), (8, 8), (6, 8), (4, 8), (4, 4), (3, 3), (2, 2), (1, 1)]
    configs = [
        base.with_bits(w, a) if same_dsps else base.replace(weight_bits=w, act_bits=a) for w, a in widths
    ]
    ms = [FpgaCostModel(c).predict_ms(layers) for c in configs]
    reports = [FpgaCostModel(c).resource_report() for c in configs]
    assert all(a >= b for a, b in zip(ms, ms[1:])), ms
    assert ms[0] > ms[-1]
    assert all(a.lut_per_mult >= b.lut_per_mult for a, b in zip(reports, reports[1:]))
    if same_dsps:  # the DSP budget is kept and packing buys parallelism
        assert len({r.dsp for r in reports}) == 1
        assert reports[-1].macs_per_cycle == 4 * reports[0].macs_per_cycle
    else:
        assert all(a.dsp >= b.dsp for a, b in zip(reports, reports[1:]))


@pytest.mark.parametrize(
    "change, field",
    [
        ({"clock_mhz": -1}, "clock_mhz"),
        ({"clock_mhz": "fast"}, "clock_mhz"),
        ({"mem_efficiency": 1.5}, "mem_efficiency"),
        ({"compute_efficiency": 0}, "compute_efficiency"),
        ({"weight_bits": 0}, "weight_bits"),
        ({"act_bits": 32}, "act_bits"),
        ({"in_parallel": 2.5}, "in_parallel"),
        ({"cores": True}, "cores"),
        ({"multiplier": "dsps"}, "multiplier"),
        ({"host_overhead_ms": -0.1}, "host_overhead_ms"),
        ({"bandwidth_gbps": float("inf")}, "bandwidth_gbps"),
        ({"name": ""}, "name"),
        ({"dsp_count": 10}, "dsp_count"),
    ],
)
def test_bad_config_values_give_one_line_errors(change, field):
    data = {**FpgaConfig.preset("zu3eg-b1152").to_dict(), **change}
    with pytest.raises(SupernetError) as err:
        FpgaConfig.from_dict(data)
    assert isinstance(err.value, FpgaConfigError)
    assert field in str(err.value) and "\n" not in str(err.value)


def test_missing_fields_presets_and_files(tmp_path):
    data = FpgaConfig.preset("zu3eg-b1152").to_dict()
    del data["clock_mhz"]
    with pytest.raises(FpgaConfigError, match="clock_mhz"):
        FpgaConfig.from_dict(data)
    with pytest.raises(FpgaConfigError, match="zcu102-b4096"):
        FpgaConfig.preset("zcu999")
    with pytest.raises(FpgaConfigError, match="does not exist"):
        FpgaConfig.resolve(tmp_path / "none.yaml")
    bad = tmp_path / "bad.json"
    bad.write_text("{clock_mhz: [")
    with pytest.raises(FpgaConfigError, match="not valid"):
        FpgaConfig.load(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(FpgaConfigError, match="mapping"):
        FpgaConfig.load(bad)


def test_presets_round_trip_and_fingerprint(tmp_path):
    assert {"zcu102-b4096", "zcu104-b4096", "zu3eg-b1152"} <= set(fpga_presets())
    for name in fpga_presets():
        cfg = FpgaConfig.preset(name)
        assert FpgaConfig.from_dict(cfg.to_dict()) == cfg
        path = tmp_path / f"{name}.json"
        cfg.save(path)
        assert FpgaConfig.resolve(str(path)) == cfg and FpgaConfig.resolve(name) == cfg
        assert cfg.replace(clock_mhz=cfg.clock_mhz + 1).fingerprint() != cfg.fingerprint()
        assert not cfg.replace(mem_efficiency=0.9).calibrated and not cfg.with_bits(4, 4).calibrated
        report = FpgaCostModel(name).resource_report()
        assert report.fits and report.dsp <= report.dsp_available
        assert name in str(report) and "estimates" in str(report)


def test_layers_expand_to_ops_and_predictions_add_up():
    space = SearchSpace.preset("mbv2-small")
    rng = random.Random(0)
    model = FpgaCostModel("zcu104-b4096")
    for _ in range(5):
        layers = arch_layers(space, space.sample(rng), 3, 10)
        costs = model.breakdown(layers)
        assert model.predict_ms(layers) == pytest.approx(model.overhead_ms + sum(c.ms for c in costs))
        for layer, cost in zip(layers, costs):
            ops = layer_ops(layer)
            assert [o.op for o in cost.ops] == ops and cost.ms > 0 and 0 < cost.utilisation <= 1
            assert cost.cycles == pytest.approx(sum(o.cycles for o in cost.ops))
            assert cost.to_dict()["ops"][0]["kind"] == ops[0].kind
    mb = layer_ops(LayerSpec("mbconv", 16, 24, 24, mid_chs=144, kernel_size=5, stride=1, skip=True))
    assert [o.kind for o in mb] == ["conv", "dwconv", "conv", "add"] and mb[1].kernel_size == 5
    with pytest.raises(FpgaConfigError, match="layer kind"):
        layer_ops(LayerSpec("attention", 8, 8, 8))


def test_prediction_is_fast_enough_for_search():
    space = SearchSpace.preset("mbv2-imagenet")
    model = FpgaCostModel("zcu102-b4096")
    layer_lists = [arch_layers(space, space.sample(random.Random(i)), 3, 1000) for i in range(50)]
    for layers in layer_lists:
        model.predict_ms(layers)  # first call fills the per-layer cache, as a lookup table would
    start = time.perf_counter()
    for layers in layer_lists:
        model.predict_ms(layers)
    assert (time.perf_counter() - start) / len(layer_lists) < 1e-3


def test_reference_networks_match_the_zoo_op_counts():
    """The rebuilt networks have the ops the model zoo names them by (e.g. `..._602M`, `..._6.97G`)."""
    for point in published_points("ZCU102"):
        named = point.zoo_name.rsplit("_", 1)[-1]
        named_ops = float(named[:-1]) * (1e9 if named.endswith("G") else 1e6)
        macs = sum(c.macs for c in FpgaCostModel("zcu102-b4096").breakdown(point.build()))
        assert 2 * macs == pytest.approx(named_ops, rel=0.03), point.model
    stock = mobilenet_v2(num_classes=1000)
    assert mobilenet_v2_from_space() == stock  # the stock net is a subnet of mbv2-imagenet


def test_calibrated_presets_match_published_figures():
    """Shipped calibration against the published single-thread figures (ZCU104 was not fitted)."""
    for point in published_points():
        model = FpgaCostModel("zcu102-b4096" if point.board == "ZCU102" else "zcu104-b4096")
        assert model.config.calibrated
        assert model.predict_ms(point.build()) == pytest.approx(point.ms, rel=0.10), (
            point.model,
            point.board,
        )
