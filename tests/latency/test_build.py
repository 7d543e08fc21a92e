import random

import pytest

import latency.build as build
from latency.build import build_table, fit_archs, space_layers
from latency.counts import count_macs_params
from latency.errors import LatencyTableError, TargetError
from latency.fpga import FpgaCostModel
from latency.layers import arch_layers
from latency.table import LatencyTable
from latency.timing import Timing
from supernet import SearchSpace, SupernetError

from .conftest import tiny_space


@pytest.mark.parametrize("preset", ["mbv2-small", "mbv2-imagenet"])
def test_space_layers_cover_every_subnet_without_duplicates(preset):
    space = SearchSpace.preset(preset)
    layers = space_layers(space, 3, 10)
    keys = {s.key for s in layers}
    assert len(keys) == len(layers)
    rng = random.Random(0)
    used = set()
    for arch in [space.smallest(), space.largest(), *(space.sample(rng) for _ in range(300))]:
        arch_keys = {s.key for s in arch_layers(space, arch, 3, 10)}
        assert arch_keys <= keys
        used |= arch_keys
    assert len(used) > len(keys) // 2  # the enumeration is not padded with layers no subnet has


@pytest.mark.parametrize("target,index", [("macs", 0), ("params", 1)])
def test_count_tables_predict_exact_counts(space, tmp_path, target, index):
    table = build_table(space, target, tmp_path / "t.json")
    assert table.unit.startswith("M") and table.complete
    for arch in [space.smallest(), space.sample(random.Random(1))]:
        assert table.predict(arch) * 1e6 == pytest.approx(count_macs_params(space, arch, 3, 10)[index])


def test_fpga_table_matches_the_cost_model(space, tmp_path):
    table = build_table(space, "fpga-int8", tmp_path / "fpga.json", fpga_preset="zu3eg-b1152")
    model = FpgaCostModel("zu3eg-b1152")
    arch = space.sample(random.Random(5))
    assert table.predict_ms(arch) == pytest.approx(model.predict_ms(arch_layers(space, arch, 3, 10)))
    assert LatencyTable.load(tmp_path / "fpga.json").metadata["estimate"] is True


def test_unknown_target(space, tmp_path):
    with pytest.raises(TargetError, match="unknown target 'gpu'"):
        build_table(space, "gpu", tmp_path / "t.json")


def test_interrupted_build_resumes_where_it_stopped(tmp_path, monkeypatch):
    """Fake timings: the first run dies after 4 layers; the second measures only the rest."""
    space = tiny_space()
    out = tmp_path / "lut.json"
    calls = []

    def fake_layer(module, example, target, timing, **where):
        calls.append(example.shape)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return 0.01 * example.shape[1]

    monkeypatch.setattr(build, "SAVE_EVERY_S", 0.0)
    monkeypatch.setattr(build, "measure_module_ms", fake_layer)
    monkeypatch.setattr(build, "measure_arch_ms", lambda space, arch, *a, **k: 0.1 + 0.01 * sum(arch.depths))
    with pytest.raises(KeyboardInterrupt):
        build_table(space, "ort-cpu", out, fit_samples=5, progress=False)
    partial = LatencyTable.load(out)
    assert len(partial.entries) == 4 and not partial.complete
    table = build_table(space, "ort-cpu", out, fit_samples=5, progress=False)
    assert len(calls) == len(space_layers(space, 3, 10)) + 1  # the interrupted call, then the rest once
    assert table.complete and len(table.fit_points) == 5
    assert [p["arch"] for p in table.fit_points] == [str(a) for a in fit_archs(space, 5)]


def test_resume_refuses_a_table_with_other_settings(tmp_path):
    space = tiny_space()
    build_table(space, "macs", tmp_path / "lut.json")
    with pytest.raises(LatencyTableError, match="--overwrite"):
        build_table(space, "ort-cpu", tmp_path / "lut.json", progress=False)
    table = LatencyTable("ort-cpu", space, 3, 10, stat="min", provider="CPUExecutionProvider")
    table.save(tmp_path / "min.json")
    with pytest.raises(LatencyTableError, match="'min'.*not.*'median'"):
        build_table(space, "ort-cpu", tmp_path / "min.json", progress=False)


def test_count_and_fpga_targets_never_replace_an_existing_file(tmp_path):
    space = tiny_space()
    out = tmp_path / "lut.json"
    build_table(space, "params", out)
    before = out.read_text()
    for target in ("macs", "params", "fpga-int8"):
        with pytest.raises(LatencyTableError, match="exists; pass --overwrite"):
            build_table(space, target, out)
    assert out.read_text() == before
    assert build_table(space, "macs", out, overwrite=True).complete
    other = tmp_path / "notes.json"  # not a table: not replaced, not even with overwrite
    other.write_text("a measured table")
    with pytest.raises(LatencyTableError, match="is not a latency table"):
        build_table(space, "macs", other, overwrite=True)
    assert other.read_text() == "a measured table"


@pytest.mark.parametrize(
    "kwargs,match",
    [({"in_chans": 0}, "--in-chans"), ({"num_classes": -1}, "--num-classes"), ({"threads": 0}, "--threads"),
     ({"batch": 0}, "--batch"), ({"repeats": 0}, "--repeats"), ({"fit_samples": 3}, "--fit-samples"),
     ({"stat": "mean"}, "allowed: median, min, p90, p99"), ({"warmup": -1}, "--warmup")],
)  # fmt: skip
def test_out_of_range_settings_are_refused_before_anything_runs(tmp_path, kwargs, match):
    knobs = {"threads", "repeats", "stat", "warmup"}
    with pytest.raises(SupernetError, match=match):  # a Timing refuses its knobs when it is made
        timing = Timing(**{k: v for k, v in kwargs.items() if k in knobs})
        rest = {k: v for k, v in kwargs.items() if k not in knobs}
        build_table(tiny_space(), "ort-cpu", tmp_path / "t.json", timing=timing, **rest)
    assert not (tmp_path / "t.json").exists()


def test_an_unavailable_provider_is_refused(tmp_path):
    with pytest.raises(TargetError, match="'NoSuchExecutionProvider' is not available"):
        build_table(tiny_space(), "ort-cpu", tmp_path / "t.json", provider="NoSuchExecutionProvider")
    with pytest.raises(SupernetError, match="--provider is for the onnxruntime targets"):
        build_table(tiny_space(), "torch-cpu", tmp_path / "t.json", provider="CUDAExecutionProvider")


def test_real_build_on_ort_cpu(tmp_path):
    """Measures the tiny space for real: positive entries, a fitted correction, metadata recorded."""
    space = tiny_space()
    table = build_table(
        space,
        "ort-cpu",
        tmp_path / "lut.json",
        timing=Timing(warmup=2, repeats=5, stat="median"),
        fit_samples=4,
        progress=False,
    )
    assert table.complete and len(table.entries) == len(space_layers(space, 3, 10))
    assert all(v > 0 for v in table.entries.values())
    assert table.correction.scale > 0
    assert table.predict_ms(space.largest()) > 0
    meta = LatencyTable.load(tmp_path / "lut.json").metadata
    assert {"device", "versions", "date", "warmup", "repeats"} <= set(meta)
    assert "onnxruntime" in meta["versions"]
    loaded = LatencyTable.load(tmp_path / "lut.json")
    assert (
        loaded.stat == "median" and loaded.provider == "CPUExecutionProvider" and loaded.precision == "fp32"
    )


def test_real_int8_build_times_quantized_graphs(tmp_path):
    """`ort-cpu-int8` times each layer and fit subnet as the QDQ graph `extract --int8` ships."""
    space = tiny_space()
    table = build_table(
        space, "ort-cpu-int8", tmp_path / "lut.json", timing=Timing(warmup=1, repeats=3, stat="p90"),
        fit_samples=4, progress=False,
    )  # fmt: skip
    assert table.precision == "int8" and table.stat == "p90" and table.complete
    assert all(v > 0 for v in table.entries.values()) and table.predict_ms(space.largest()) > 0
