import time

import pytest
import torch

from latency.errors import TargetError
from latency.measure import export_onnx, measure_arch_ms, measure_module_ms, measure_onnx_ms, time_ms

from .conftest import tiny_space


def test_time_ms_runs_warmup_and_repeats_and_takes_the_statistic():
    calls = []
    assert time_ms(lambda: calls.append(1), warmup=3, repeats=7) >= 0
    assert len(calls) == 10
    sleeps = iter([0.0] * 2 + [0.002, 0.001, 0.02])  # two warm-up runs, then three timed ones

    def run():
        time.sleep(next(sleeps))

    assert 1.0 <= time_ms(run, warmup=2, repeats=3, stat="min") < 2.0
    with pytest.raises(TargetError, match="allowed: median, min"):
        time_ms(run, stat="mean")


def test_measure_onnx_file_and_dynamic_batch(tmp_path):
    module = torch.nn.Conv2d(3, 8, 3)
    path = tmp_path / "m.onnx"
    torch.onnx.export(
        module, (torch.randn(1, 3, 8, 8),), path, dynamo=False, input_names=["x"],
        dynamic_axes={"x": {0: "batch"}},
    )  # fmt: skip
    assert measure_onnx_ms(path, threads=1, batch=4, warmup=1, repeats=3) > 0
    assert measure_onnx_ms(export_onnx(module, torch.randn(2, 3, 8, 8)), warmup=1, repeats=3) > 0
    with pytest.raises(TargetError, match="not found"):
        measure_onnx_ms(tmp_path / "missing.onnx")


@pytest.mark.parametrize("target", ["ort-cpu", "torch-cpu"])
def test_measure_module_and_arch(target):
    assert (
        measure_module_ms(torch.nn.Conv2d(3, 8, 3), torch.randn(1, 3, 8, 8), target, warmup=1, repeats=3) > 0
    )
    space = tiny_space()
    assert measure_arch_ms(space, space.largest(), target, 3, 10, warmup=1, repeats=3) > 0


def test_unavailable_targets_are_refused():
    with pytest.raises(TargetError, match="not measured"):
        measure_module_ms(torch.nn.Identity(), torch.randn(1), "fpga-int8")
    if not torch.cuda.is_available():
        with pytest.raises(TargetError, match="needs a CUDA GPU"):
            measure_module_ms(torch.nn.Identity(), torch.randn(1), "torch-cuda")
