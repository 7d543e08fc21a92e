"""Private library paths (timm's `_efficientnet_*`, `ray._private`) are reached only through
`supernet/_compat.py`, and pyproject.toml bounds those libraries to versions the installed ones satisfy."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest depends on tomli there
    import tomli as tomllib

from supernet import _compat

ROOT = Path(__file__).parents[2]
PROJECT = {"supernet", "latency", "extract", "experiments", "tests", "supernet_cli"}
COMPAT = ROOT / "supernet" / "_compat.py"


def _private(dotted: str) -> bool:
    """A dotted path with a `_name` component (dunders like `__future__` are public)."""
    return any(p.startswith("_") and not p.endswith("__") for p in dotted.split("."))


def _third_party(dotted: str) -> bool:
    top = dotted.split(".")[0]
    return top not in PROJECT and top not in sys.stdlib_module_names


def private_imports(source: str) -> list[str]:
    """Every private path of a third-party library that `source` imports or reaches through an imported name."""
    tree = ast.parse(source)
    found: list[str] = []
    bound: set[str] = set()  # names bound to third-party modules by `import x` / `import x.y as z`
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _third_party(alias.name):
                    if _private(alias.name):
                        found.append(alias.name)
                    bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if _third_party(node.module):
                if _private(node.module):
                    found.append(node.module)
                found += [f"{node.module}.{a.name}" for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0].value
            if name in {"import_module", "__import__"} and isinstance(arg, str):
                if _third_party(arg) and _private(arg):
                    found.append(arg)
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):  # `import ray` ... `ray._private.services` (outermost chains only)
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            parts, base = [], node
            while isinstance(base, ast.Attribute):
                parts.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id in bound and _private(".".join(parts)):
                found.append(".".join([base.id, *reversed(parts)]))
    return found


def _sources() -> list[Path]:
    files = [ROOT / "supernet_cli.py"]
    for package in ("supernet", "latency", "extract", "experiments", "tests"):
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def test_no_private_library_import_outside_the_compat_module():
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in _sources()
        if path != COMPAT and (found := private_imports(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, f"import these through supernet/_compat.py: {offenders}"
    assert len(_sources()) > 100  # the scan saw the whole project, not an empty glob


def test_the_compat_module_holds_the_private_imports():
    found = private_imports(COMPAT.read_text(encoding="utf-8"))
    assert "timm.models._efficientnet_blocks" in found and "timm.models._efficientnet_builder" in found
    assert "ray._private.utils" in found and "ray._private.services" in found


@pytest.mark.parametrize(
    "source, expected",
    [
        (
            "from timm.models._efficientnet_blocks import InvertedResidual",
            ["timm.models._efficientnet_blocks"],
        ),
        ("import ray._private.services as s", ["ray._private.services"]),
        ("import ray\nray._private.utils.f()", ["ray._private.utils.f"]),
        ("from torch import _C", ["torch._C"]),
        ("import importlib\nimportlib.import_module('ray._private.utils')", ["ray._private.utils"]),
        ("from timm.models import EfficientNet\nimport os\nos._exit(0)", []),  # stdlib os._exit is public
        ("from __future__ import annotations\nfrom ._compat import round_channels", []),
        ("from supernet._compat import InvertedResidual", []),
    ],
)
def test_the_scan_finds_private_paths(source, expected):
    assert private_imports(source) == expected


def test_compat_names_are_the_ones_timm_builds_mobilenetv2_from():
    import timm
    from timm.models import efficientnet

    model = timm.create_model("mobilenetv2_050", pretrained=False, num_classes=10)
    assert type(model.blocks[0][0]) is _compat.DepthwiseSeparableConv
    assert all(type(b) is _compat.InvertedResidual for stage in model.blocks[1:] for b in stage)
    assert _compat.decode_arch_def is efficientnet.decode_arch_def
    assert _compat.efficientnet_init_weights is efficientnet.efficientnet_init_weights
    assert _compat.round_channels(32 * 0.75) == 24 and _compat.round_channels(32 * 0.35) == 16


def test_compat_reaches_rays_private_helpers():
    services = _compat.ray_services()
    assert callable(services.find_gcs_addresses) and callable(services.find_bootstrap_address)
    error = _compat.ray_client_dependency_error()
    assert error is None or (isinstance(error, str) and error)


@pytest.mark.parametrize("library", ["timm", "ray"])
def test_pyproject_bounds_the_libraries_whose_privates_we_use(library):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    requirements += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    bounds = [r for r in requirements if r.name == library]
    assert bounds, f"{library} is not a dependency"
    installed = Version(importlib.metadata.version(library))
    for r in bounds:
        assert any(s.operator in ("<", "<=", "~=", "==") for s in r.specifier), f"{r} has no upper bound"
        assert r.specifier.contains(installed), f"installed {library} {installed} violates {r}"


def test_ray_client_dependency_error_is_text_even_when_ray_hands_back_the_import_error(monkeypatch):
    """Without grpc (a plain `pip install -e .`), Ray returns the ImportError object itself, not a string."""
    target = "ray._private.utils.get_ray_client_dependency_error"  # the one name the compat module reads
    monkeypatch.setattr(target, lambda: ModuleNotFoundError("no grpc"))
    assert _compat.ray_client_dependency_error() == "no grpc"
    monkeypatch.setattr(target, lambda: None)
    assert _compat.ray_client_dependency_error() is None
