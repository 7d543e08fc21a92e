"""Every file the project writes goes through the atomic writer (`supernet.files.atomic_write`): a scan of
the packages finds no plain write outside a writer function handed to it, and the writers that used to
write in place now leave the old file or the new one, never half, and no temp file behind."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).parents[1]
PACKAGES = ("supernet", "latency", "extract", "experiments")
WRITE_METHODS = {"write_text", "write_bytes", "savefig", "save_file", "copyfile", "copy", "copy2", "to_csv"}
WRITE_FUNCTIONS = {"quantize_static", "quant_pre_process"}  # onnxruntime writes the path it is given
SAVE_MODULES = {"onnx", "torch", "np", "numpy"}  # onnx.save, torch.save, np.save
# FILE:FUNCTION -> why a plain write is right there.
ALLOWED = {
    "supernet/files.py:append_line": "the project's flushed append for logs (metrics, journals)",
    "supernet/outdir.py:acquire": "the lock file is created with O_EXCL: it must not be renamed into place",
    "latency/run_kit.py:save": "standalone on the device (no supernet import); same temp+rename scheme",
    "latency/quantize.py:quantize_int8": "the pre-processed graph is an intermediate in a private temp dir",
}


def _mode(call: ast.Call) -> str:
    mode = (
        call.args[1]
        if len(call.args) > 1
        else next((k.value for k in call.keywords if k.arg == "mode"), None)
    )
    return mode.value if isinstance(mode, ast.Constant) and isinstance(mode.value, str) else "r"


def _is_write(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name in {"copy", "copy2"} and len(call.args) + len(call.keywords) < 2:
        return False  # an in-memory copy (`array.copy()`, `copy.copy(x)`), not shutil's file copy (src, dst)
    if name in WRITE_METHODS or name in WRITE_FUNCTIONS:
        return True
    if name == "save" and isinstance(func, ast.Attribute) and getattr(func.value, "id", "") in SAVE_MODULES:
        return True
    if name == "export" and isinstance(func, ast.Attribute) and ast.unparse(func.value) == "torch.onnx":
        return True  # to a path or a buffer: either way it belongs in a writer handed to atomic_write
    if name in {"open", "fdopen"}:
        return any(c in _mode(call) for c in "wax+")
    return False


def plain_writes(source: str) -> list[tuple[str, int]]:
    """(enclosing function, line) of every write not done inside a writer handed to `atomic_write`."""
    tree = ast.parse(source)
    parent = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    writers: set[str] = set()  # functions passed by name: atomic_write(path, write)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "atomic_write":
            writers |= {a.id for a in node.args[1:] if isinstance(a, ast.Name)}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _is_write(node)):
            continue
        inside, function, up = False, "<module>", node
        while up in parent:
            up = parent[up]
            if (
                isinstance(up, ast.Lambda)
                and getattr(getattr(parent.get(up), "func", None), "id", "") == "atomic_write"
            ):
                inside = True
            if isinstance(up, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inside = inside or up.name in writers
                function = up.name if function == "<module>" else function
        if not inside:
            found.append((function, node.lineno))
    return found


def test_no_plain_writes_outside_the_atomic_writer():
    offenders = {}
    for path in [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]:
        rel = path.relative_to(ROOT).as_posix()
        found = [w for w in plain_writes(path.read_text(encoding="utf-8")) if f"{rel}:{w[0]}" not in ALLOWED]
        if found:
            offenders[rel] = found
    assert offenders == {}, f"write these through supernet.files.atomic_write: {offenders}"


@pytest.mark.parametrize(
    "source, expected",
    [("def f(p):\n    p.write_text('x')", [("f", 2)]),
     ("atomic_write(p, lambda tmp: Path(tmp).write_bytes(b))", []),
     ("def g(p):\n    def w(tmp):\n        fig.savefig(tmp)\n    atomic_write(p, w)", []),
     ("with open(p, 'a') as f:\n    f.write(x)", [("<module>", 1)]), ("open(p).read()", []),
     ("onnx.save(m, p)", [("<module>", 1)]), ("table.save(p)", []), ("gzip.open(p, mode='wb')", [("<module>", 1)]),
     ("shutil.copyfile(a, b)", [("<module>", 1)]), ("shutil.copy2(a, dst=b)", [("<module>", 1)]),
     ("x = a.copy()\ny = copy.copy(x)", [])],
)  # fmt: skip
def test_the_scan_finds_plain_writes(source, expected):
    assert plain_writes(source) == expected


def test_a_saved_space_replaces_the_old_file_whole(tmp_path, monkeypatch):
    from supernet import SearchSpace, files

    space = SearchSpace.preset("mbv2-small")
    path = tmp_path / "space.yaml"
    space.save(path)
    before = path.read_bytes()
    assert SearchSpace.load(path).fingerprint() == space.fingerprint()
    monkeypatch.setattr(files.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises(files.OutputError, match="space.yaml: the disk is full; the previous space.yaml"):
        space.save(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["space.yaml"]


def test_an_onnx_export_to_a_file_is_atomic(tmp_path, monkeypatch):
    from latency.onnx import export_onnx
    from supernet import files

    module, example = torch.nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8)
    path = export_onnx(module, example, tmp_path / "m.onnx")
    assert path.read_bytes() == export_onnx(module, example)  # the file holds the very bytes of the buffer
    before = path.read_bytes()
    monkeypatch.setattr(files.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises(files.OutputError, match="m.onnx: the disk is full"):
        export_onnx(torch.nn.Conv2d(3, 5, 3), example, path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


@pytest.mark.parametrize(
    "where, errno_, words",
    [
        ("replace", 28, "the disk is full; the previous t.json is unchanged; free space"),
        ("replace", 5, "input/output error; the previous t.json is unchanged; choose another --out"),
        ("mkstemp", 2, "no such file or directory; the previous t.json is unchanged; choose another --out"),
        ("mkstemp", 36, "longer than the file system allows (usually 255 bytes); the previous t.json"),
    ],
)
def test_every_os_error_of_a_write_is_one_output_error_and_keeps_the_file(
    tmp_path, monkeypatch, where, errno_, words
):
    import os

    from supernet import files

    path = files.write_json(tmp_path / "t.json", {"a": 1})
    before = path.read_bytes()
    failing = lambda *a, **k: (_ for _ in ()).throw(OSError(errno_, os.strerror(errno_)))  # noqa: E731
    monkeypatch.setattr(files.os if where == "replace" else files.tempfile, where, failing)
    with pytest.raises(files.OutputError, match=f"cannot write {path}: ") as e:
        files.write_json(path, {"a": 2})
    assert words in str(e.value) and e.value.__cause__ is None
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["t.json"]


def test_a_folder_that_cannot_be_made_is_one_output_error(tmp_path):
    from supernet import files

    (tmp_path / "f").write_text("a file\n")
    with pytest.raises(files.OutputError, match=r"cannot create kit folder .*/f/k: .* choose another --out"):
        files.make_dirs(tmp_path / "f" / "k", "kit folder")
    with pytest.raises(files.OutputError, match="a file has that name"):
        files.make_dirs(tmp_path / "f")
    assert files.make_dirs(tmp_path / "new" / "deeper").is_dir()
