import time

import pytest
import torch

from latency.errors import TargetError
from latency.measure import export_onnx, measure_arch_ms, measure_module_ms, measure_onnx_ms, time_ms
from latency.timing import Timing

from .conftest import tiny_space


def test_time_ms_runs_warmup_and_repeats_and_takes_the_statistic():
    calls = []
    assert time_ms(lambda: calls.append(1), Timing(warmup=3, repeats=7)) >= 0
    assert len(calls) == 10
    sleeps = iter([0.0] * 2 + [0.002, 0.001, 0.02])  # two warm-up runs, then three timed ones

    def run():
        time.sleep(next(sleeps))

    assert (
        1.0 <= time_ms(run, Timing(warmup=2, repeats=3, stat="min")) < 20.0
    )  # the 1 ms run, not the 20 ms one
    with pytest.raises(TargetError, match="allowed: median, min"):
        time_ms(run, Timing(stat="mean"))


def test_measure_onnx_file_and_dynamic_batch(tmp_path):
    module = torch.nn.Conv2d(3, 8, 3)
    path = tmp_path / "m.onnx"
    torch.onnx.export(
        module, (torch.randn(1, 3, 8, 8),), path, dynamo=False, input_names=["x"],
        dynamic_axes={"x": {0: "batch"}},
    )  # fmt: skip
    assert measure_onnx_ms(path, Timing(warmup=1, repeats=3, threads=1), batch=4) > 0
    assert measure_onnx_ms(export_onnx(module, torch.randn(2, 3, 8, 8)), Timing(warmup=1, repeats=3)) > 0
    with pytest.raises(TargetError, match="not found"):
        measure_onnx_ms(tmp_path / "missing.onnx")


@pytest.mark.parametrize("target", ["ort-cpu", "torch-cpu"])
def test_measure_module_and_arch(target):
    timing = Timing(warmup=1, repeats=3)
    assert measure_module_ms(torch.nn.Conv2d(3, 8, 3), torch.randn(1, 3, 8, 8), target, timing) > 0
    space = tiny_space()
    assert measure_arch_ms(space, space.largest(), target, in_chans=3, num_classes=10, timing=timing) > 0


def test_unavailable_targets_are_refused():
    with pytest.raises(TargetError, match="not measured"):
        measure_module_ms(torch.nn.Identity(), torch.randn(1), "fpga-int8")
    if not torch.cuda.is_available():
        with pytest.raises(TargetError, match="needs a CUDA GPU"):
            measure_module_ms(torch.nn.Identity(), torch.randn(1), "torch-cuda")


def test_statistics_match_numpy():
    import numpy as np

    from latency.measure import summarize_ms

    times = [int(v) for v in np.random.default_rng(0).integers(10_000, 90_000, 77)]
    for stat, expected in [("min", min(times)), ("median", np.median(times)), ("p90", np.percentile(times, 90)),
                           ("p99", np.percentile(times, 99))]:  # fmt: skip
        assert summarize_ms(times, stat) == pytest.approx(expected / 1e6)


def test_one_onnx_module_for_tables_and_shipped_files(tmp_path):
    """extract's exporter and session are latency.onnx's: same names, opset and dynamic batch."""
    import onnx

    from extract import onnx_io
    from latency import onnx as lonnx

    assert onnx_io.ort_session.__module__ == "extract.onnx_io" and onnx_io.INPUT_NAME == lonnx.INPUT_NAME
    space = tiny_space()
    from supernet import build_subnet

    model = build_subnet(space, space.largest(), 10, 3).eval()
    shipped = onnx.load(onnx_io.export_onnx(model, tmp_path / "m.onnx", 16, 3))
    measured = onnx.load_from_string(lonnx.export_subnet(model, 16, 3))
    assert shipped.graph == measured.graph and shipped.opset_import == measured.opset_import
    assert shipped.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
