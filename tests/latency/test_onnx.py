"""One export call serves both exporters: the same names and dynamic batch, each with its own opset, and
the graph computes what the module computes at any batch size."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from latency.onnx import DYNAMO_OPSET, INPUT_NAME, OPSET, OUTPUT_NAME, export_onnx, ort_session

ROOT = Path(__file__).parents[2]


def test_the_project_calls_torch_onnx_export_once():
    calls = [
        (path.relative_to(ROOT).as_posix(), node.lineno)
        for pkg in ("supernet", "latency", "extract", "experiments")
        for path in sorted((ROOT / pkg).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.onnx.export"
    ]
    assert len(calls) == 1 and calls[0][0] == "latency/onnx.py", calls


@pytest.mark.parametrize("dynamo, opset", [(False, OPSET), (True, DYNAMO_OPSET)])
def test_both_exporters_give_the_shipped_interface(dynamo, opset, tmp_path):
    import onnx

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU6()).eval()
    path = export_onnx(module, torch.randn(2, 3, 8, 8), tmp_path / "m.onnx", dynamo=dynamo)
    model = onnx.load(path)
    assert [i.name for i in model.graph.input] == [INPUT_NAME]
    assert [o.name for o in model.graph.output] == [OUTPUT_NAME]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # a named, dynamic batch dim
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == opset
    x = torch.randn(5, 3, 8, 8)
    (got,) = ort_session(path).run(None, {INPUT_NAME: x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(got, module(x).numpy(), atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temp file left
