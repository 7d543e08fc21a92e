"""Project functions are called with keywords, not long positional lists: no call in the packages passes
more than four positional arguments to a function or record the project defines, and the functions that
used to be called that way take their later parameters keyword-only."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("supernet", "latency", "extract", "experiments")
MAX_POSITIONAL = 4
# Records read like instructions, (kind, in_res, in_chs, out_chs, kernel, stride): kept positional.
RECORDS = {"FpgaOp"}


def _sources() -> list[Path]:
    return [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))] + [ROOT / "supernet_cli.py"]


def project_callables() -> set[str]:
    """Names of the functions and classes the project defines with a fixed argument list (a name that is
    also defined with `*args` somewhere, like `run(*argv)` helpers, is left out)."""
    names: set[str] = set()
    variadic: set[str] = set()
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                (variadic if node.args.vararg else names).add(node.name)
            elif isinstance(node, ast.ClassDef):
                names.add(node.name)
    return names - variadic


def long_positional_calls(source: str, callables: set[str]) -> list[str]:
    """`name (n)` for every call of a project callable with more than MAX_POSITIONAL positional arguments."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            positional = [a for a in node.args if not isinstance(a, ast.Starred)]
            if name in callables and name not in RECORDS and len(positional) > MAX_POSITIONAL:
                found.append(f"{name} ({len(positional)}) line {node.lineno}")
    return found


def test_no_long_positional_calls_of_project_functions():
    callables = project_callables()
    assert {"build_table", "export_arch", "run_sweep", "ResourceReport"} <= callables
    offenders = {}
    for path in _sources():
        if found := long_positional_calls(path.read_text(encoding="utf-8"), callables):
            offenders[path.relative_to(ROOT).as_posix()] = found
    assert offenders == {}, f"call these with keywords: {offenders}"


def test_the_scan_finds_a_long_positional_call():
    source = "build_table(space, 'ort-cpu', out, 3, 10)\nbuild_table(space, 'ort-cpu', out, in_chans=3)\nzip(a, b, c, d, e)"
    assert long_positional_calls(source, {"build_table"}) == ["build_table (5) line 1"]


@pytest.mark.parametrize(
    "function, positional",
    [("latency.build:build_table", 3), ("latency.kit:make_kit", 2), ("latency.validate:validate_table", 1),
     ("latency.kit_import:import_table", 2), ("latency.measure:measure_onnx_ms", 2),
     ("latency.measure:measure_module_ms", 4), ("latency.measure:measure_arch_ms", 3),
     ("latency.measure:subnet_graph", 2), ("extract.export:export_arch", 2), ("extract.search:run_search", 2),
     ("extract.pipeline:load_eval_data", 2), ("extract.pipeline:open_table", 2), ("extract.report:plot_pareto", 2),
     ("supernet.distributed.tune:run_sweep", 2), ("supernet.subnet:build_subnet", 4),
     ("supernet.checks:check_int", 2), ("supernet.checks:check_float", 2), ("supernet.train.data:load_data", 2),
     ("supernet.train.data:_bundle", 1), ("supernet.train._imagefolder:load_imagefolder", 1),
     ("supernet.train.data:TensorImageDataset", 4), ("supernet.train.evalset:EvalSet", 3),
     ("supernet.train.sandwich:step_archs", 1), ("supernet.train.sandwich:sandwich_backward", 4),
     ("supernet.train.guard:check_health", 2), ("supernet.train.checkpoint:save_checkpoint", 3),
     ("supernet.distributed.launch:_make_trainer", 2)],
)  # fmt: skip
def test_later_parameters_are_keyword_only(function, positional):
    import importlib

    module, name = function.split(":")
    params = list(inspect.signature(getattr(importlib.import_module(module), name)).parameters.values())
    kinds = [p.kind for p in params]
    assert kinds[:positional] == [inspect.Parameter.POSITIONAL_OR_KEYWORD] * positional
    assert set(kinds[positional:]) == {inspect.Parameter.KEYWORD_ONLY}, f"{function}: {params}"
