import json
import math
import random
import time

import pytest

from latency.errors import LatencyTableError, MissingEntryError
from latency.layers import arch_layers
from latency.table import Correction, LatencyTable
from supernet import ArchConfig, ArchError, SearchSpace


def test_predict_is_corrected_sum_of_entries(fake_table, space):
    fake_table.correction = Correction(scale=0.9, per_layer_ms=-0.002, offset_ms=0.01)
    arch = space.sample(random.Random(2))
    layers = arch_layers(space, arch, 3, 10)
    raw = sum(fake_table.entries[s.key] for s in layers)
    assert fake_table.predict_ms(arch) == pytest.approx(0.9 * raw - 0.002 * len(layers) + 0.01)
    assert [s for s, _ in fake_table.breakdown(arch)] == layers
    assert sum(v for _, v in fake_table.breakdown(arch)) == pytest.approx(raw)


def test_save_load_round_trip(fake_table, space, tmp_path):
    fake_table.correction = Correction(1.1, 0.001, 0.02)
    fake_table.save(tmp_path / "lut.json")
    loaded = LatencyTable.load(tmp_path / "lut.json")
    arch = space.sample(random.Random(4))
    assert loaded.predict_ms(arch) == pytest.approx(fake_table.predict_ms(arch))
    assert loaded.space_fingerprint == space.fingerprint()
    assert loaded.correction == fake_table.correction
    assert not list(tmp_path.glob(".*tmp"))  # atomic write leaves no temp file


def test_prediction_takes_well_under_a_millisecond(fake_table, space):
    """CPU time, not wall time, so other processes on a shared machine do not make it flaky."""
    archs = [space.sample(random.Random(i)) for i in range(200)]
    start = time.process_time()
    for arch in archs:
        fake_table.predict_ms(arch)
    assert (time.process_time() - start) / len(archs) < 1e-3


def test_correction_fit_recovers_known_coefficients():
    rng = random.Random(0)
    sums = [rng.uniform(0.1, 2.0) for _ in range(30)]
    layers = [rng.randint(10, 25) for _ in range(30)]
    measured = [0.8 * s - 0.004 * n + 0.05 for s, n in zip(sums, layers)]
    fit = Correction.fit(sums, layers, measured)
    assert (fit.scale, fit.per_layer_ms, fit.offset_ms) == pytest.approx((0.8, -0.004, 0.05), abs=1e-9)
    slowed = [m * (3.5 if i in (4, 11, 17) else 1.0) for i, m in enumerate(measured)]  # bursts of load
    robust = Correction.fit(sums, layers, slowed)
    assert (robust.scale, robust.per_layer_ms, robust.offset_ms) == pytest.approx(
        (0.8, -0.004, 0.05), abs=1e-9
    )
    with pytest.raises(LatencyTableError, match="at least 4"):
        Correction.fit(sums[:3], layers[:3], measured[:3])


def test_mismatched_space_target_and_io_are_named(fake_table):
    other = SearchSpace.preset("mbv2-imagenet")
    with pytest.raises(LatencyTableError, match="mbv2-small.*not mbv2-imagenet"):
        fake_table.check_space(other)
    with pytest.raises(LatencyTableError, match="ort-cpu, not torch-cpu"):
        fake_table.check_target("torch-cpu")
    with pytest.raises(LatencyTableError, match="3 input channels and 10 classes"):
        fake_table.check_io(1, 10)
    fake_table.check_space(SearchSpace.preset("mbv2-small"))  # the right ones pass


def test_arch_outside_space_and_missing_entry(fake_table, space):
    arch = space.largest()
    with pytest.raises(ArchError, match="resolution=224"):
        fake_table.predict_ms(ArchConfig(224, *list(arch.to_dict().values())[1:]))
    key = arch_layers(space, arch, 3, 10)[3].key
    del fake_table.entries[key]
    with pytest.raises(MissingEntryError, match=key):
        fake_table.predict_ms(arch)


def test_incomplete_table_refuses_to_predict(fake_table, space):
    fake_table.complete = False
    with pytest.raises(LatencyTableError, match="incomplete.*resume"):
        fake_table.predict_ms(space.smallest())


POINT = {"arch": "r32_...", "sum_ms": 1.0, "num_layers": 9, "measured_ms": 1.2}


@pytest.mark.parametrize(
    "corrupt,match",
    [
        (lambda d: "{not json", "not valid JSON"),
        (lambda d: {**d, "format": "other"}, "format"),
        (lambda d: {**d, "version": 99}, "version 99"),
        (lambda d: {**d, "target": "tpu"}, "target 'tpu'"),
        (lambda d: {k: v for k, v in d.items() if k != "entries"}, "entries"),
        (lambda d: {**d, "entries": {"stem": "fast"}}, "wrong type"),
        (lambda d: {**d, "entries": {"stem": math.nan}}, "finite"),
        (lambda d: {**d, "space": {**d["space"], "head_chs": 512}}, "fingerprint"),
        (lambda d: {**d, "correction": {"scale": 1}}, "missing or has the wrong type"),
        (lambda d: {**d, "entries": {**d["entries"], "stem": -0.1}}, "non-negative"),
        (
            lambda d: {**d, "correction": {"scale": -1.0, "per_layer_ms": 0, "offset_ms": 0}},
            "scale must be > 0",
        ),
        (lambda d: {**d, "correction": {"scale": 1.0, "per_layer_ms": 0, "offset_ms": -0.1}}, "offset >= 0"),
        (lambda d: {**d, "threads": 0}, "threads must be >= 1"),
        (lambda d: {**d, "batch": -2}, "batch must be >= 1"),
        (lambda d: {**d, "stat": "mean"}, "statistic 'mean'"),
        # coerced or unread before: int(1.5), bool("x"), list("x"), a unit or precision the target contradicts
        (lambda d: {**d, "threads": 1.5}, "threads is 1.5; allowed: an integer"),
        (lambda d: {**d, "in_chans": True}, "in_chans is true; allowed: an integer"),
        (lambda d: {**d, "version": True}, "version is true; allowed: an integer"),
        (lambda d: {**d, "unit": "MMACs"}, "unit 'MMACs' does not match target ort-cpu"),
        (lambda d: {**d, "precision": "int8"}, "precision 'int8' does not match target ort-cpu"),
        (lambda d: {**d, "provider": ""}, "provider must be an onnxruntime execution provider"),
        (lambda d: {**d, "target": "macs", "provider": "CPUExecutionProvider"}, "unit 'ms' does not match"),
        (lambda d: {**d, "target": "torch-cpu"}, 'provider must be "" for target torch-cpu'),
        (lambda d: {**d, "complete": "x"}, "complete is the string 'x'; allowed: true or false"),
        (lambda d: {**d, "metadata": []}, "metadata is the list \\[\\]; allowed: an object"),
        (lambda d: {**d, "fit_points": "x"}, "fit_points is the string 'x'; allowed: a list of objects"),
        (lambda d: {**d, "fit_points": [[1, 2, 3]]}, "allowed: a list of objects"),
        (lambda d: {**d, "fit_points": [{**POINT, "measured_ms": math.inf}]}, r"fit_points\[0\]"),
        (lambda d: {**d, "fit_points": [{**POINT, "num_layers": "9"}]}, r"fit_points\[0\]: num_layers is"),
        (lambda d: {**d, "fit_points": [{**POINT, "sum_ms": -1.0}]}, r"fit_points\[0\] has a negative time"),
        (lambda d: {**d, "speed": "fast"}, "unknown field"),
    ],
)
def test_corrupt_tables_raise_clear_errors(fake_table, tmp_path, corrupt, match):
    data = corrupt(fake_table.to_dict())
    path = tmp_path / "lut.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    with pytest.raises(LatencyTableError, match=match):
        LatencyTable.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(LatencyTableError, match="not found.*latency build"):
        LatencyTable.load(tmp_path / "nope.json")


def test_a_negative_fitted_offset_is_refitted_without_one():
    """A per-inference overhead below zero is not physical (and a reader refuses it): the fit drops it."""
    rng = random.Random(1)
    sums = [rng.uniform(0.1, 2.0) for _ in range(20)]
    layers = [rng.randint(10, 25) for _ in range(20)]
    fit = Correction.fit(sums, layers, [1.2 * s + 0.001 * n - 0.03 for s, n in zip(sums, layers)])
    assert fit.offset_ms == 0.0 and fit.scale > 0


def test_count_tables_predict_their_unit_not_ms(space, tmp_path):
    from latency.build import build_table

    table = build_table(space, "macs", tmp_path / "macs.json")
    assert table.predict(space.smallest()) > 0
    with pytest.raises(LatencyTableError, match="holds MMACs, not ms; use predict"):
        table.predict_ms(space.smallest())


def test_deployment_provider_and_precision_must_match(fake_table):
    fake_table.provider = "CPUExecutionProvider"
    fake_table.check_deployment(
        "CPUExecutionProvider", ships_int8=True
    )  # fp32 budget, int8 shipped beside it
    with pytest.raises(LatencyTableError, match="timed on onnxruntime provider CPUExecutionProvider, not X"):
        fake_table.check_deployment("X", ships_int8=False)
    fake_table.target = "ort-cpu-int8"
    with pytest.raises(LatencyTableError, match="int8 graphs.*pass --int8"):
        fake_table.check_deployment("CPUExecutionProvider", ships_int8=False)
    fake_table.target = "torch-cpu"
    fake_table.check_deployment("anything", ships_int8=False)  # not an onnxruntime table: nothing to check
