"""One validating reader for every JSON (and YAML) file the project reads (training config, arch, space, checkpoint, logs).

`read_json` turns every way a file can be wrong (missing, a folder, not UTF-8, not JSON, NaN/Infinity,
the wrong top-level type) into one error line naming the file. `check_fields` then checks an object's
keys and value types against a schema of type annotations (`int`, `float`, `str`, `bool`, `X | None`,
`list[T]`, `tuple[T, ...]`, `dict`): unknown keys, missing keys and wrong types (a bool, string or float
where an integer goes, null where a number goes) are errors naming the file, the field, what is wrong
and what is allowed.
"""

from __future__ import annotations

import json
import math
import types
import typing
from pathlib import Path

from .errors import InputFileError, SupernetError

# Config, arch, checkpoint-description and subnet files are kilobytes; reading stops past this, so a
# device such as /dev/zero or an endless pipe given by mistake is refused instead of filling memory.
MAX_BYTES = 64 * 2**20


def read_capped(p: Path, where: str, error: type[SupernetError], kind: str = "a JSON file") -> bytes:
    """The bytes of `p` (a file, or a pipe such as `<(...)`), at most `MAX_BYTES`; one `error` line otherwise,
    saying what is allowed (`kind`)."""
    try:
        with open(p, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise error(f"{where} not found") from None
    except IsADirectoryError:
        raise error(f"{where} is a folder; give {kind}") from None
    except OSError as e:
        raise error(f"{where} is unreadable ({e.strerror or e.__class__.__name__})") from None
    if len(raw) > MAX_BYTES:
        raise error(f"{where} holds more than {MAX_BYTES >> 20} MiB; allowed: {kind} (kilobytes)")
    return raw


def _no_constants(name: str):
    raise ValueError(f"it holds {name}, which is not a JSON number")


def parse_json(text: str, where: str, error: type[SupernetError] = InputFileError):
    """JSON text -> data; NaN/Infinity and syntax errors are one-line `error`s naming `where`."""
    try:
        return json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as e:
        raise error(
            f"{where} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); it is corrupt or truncated"
        )
    except ValueError as e:
        raise error(f"{where} is not valid JSON: {e}; allowed: finite numbers")
    except RecursionError:
        raise error(f"{where} is nested too deeply to be a valid file")


def read_json(
    path: str | Path, what: str, error: type[SupernetError] = InputFileError, kind: type = dict
) -> typing.Any:
    """The parsed content of the JSON file `path` (a `what`, e.g. 'training config'), which must be a `kind`."""
    where = f"{what} {Path(path)}"
    data = parse_json(_read_text(Path(path), where, error, "a JSON file"), where, error)
    if not isinstance(data, kind):
        raise error(f"{where} must hold a JSON {_KIND_NAMES.get(kind, kind.__name__)}, not {json_name(data)}")
    return data


def read_yaml(path: str | Path, what: str, error: type[SupernetError] = InputFileError) -> typing.Any:
    """The parsed content of the YAML (or JSON: YAML reads both) file `path`, a `what`; every way it can be
    wrong (missing, a folder, huge, not UTF-8, a syntax error: line and column) is one `error` line."""
    import yaml

    where = f"{what} {Path(path)}"
    text = _read_text(Path(path), where, error, "a YAML or JSON file")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark, problem = getattr(e, "problem_mark", None), getattr(e, "problem", None)
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        context = f" ({e.context})" if getattr(e, "context", None) else ""
        raise error(f"{where} is not valid YAML: {problem or str(e).splitlines()[0]}{at}{context}") from None
    except RecursionError:
        raise error(f"{where} is nested too deeply to be a valid file") from None


def _read_text(p: Path, where: str, error: type[SupernetError], kind: str) -> str:
    raw = read_capped(p, where, error, kind)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(
            f"{where} is not UTF-8 text (byte {raw[e.start]:#04x} at offset {e.start}); allowed: {kind}"
        ) from None


_KIND_NAMES = {dict: "object", list: "array", str: "string", int: "integer", float: "number", bool: "boolean"}


def json_name(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, (list, tuple)):
        text = json.dumps(list(value), default=str)
        return f"the list {text if len(text) <= 60 else text[:57] + '...'}"
    return f"a JSON {_KIND_NAMES.get(type(value), type(value).__name__)}"


def _fixed_length(origin, args) -> bool:
    return origin is tuple and bool(args) and args[-1] is not Ellipsis


def describe(annotation) -> str:
    """What a value of this annotation looks like, for 'allowed:' messages."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        parts = [describe(a) for a in args if a is not type(None)]
        return " or ".join(parts) + (" or null" if type(None) in args else "")
    if origin in (list, tuple):
        of = f"{describe(args[0]).removeprefix('an ').removeprefix('a ')}s" if args else ""
        if _fixed_length(origin, args):
            return f"a list of {len(args)} {of}"
        return f"a list of {of}" if args else "a list"
    return {
        int: "an integer",
        float: "a finite number",
        str: "a string",
        bool: "true or false",
        dict: "an object",
    }.get(annotation, getattr(annotation, "__name__", str(annotation)))


def type_ok(value, annotation) -> bool:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(type_ok(value, a) for a in args)
    if annotation is type(None):
        return value is None
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        if _fixed_length(origin, args):  # tuple[float, float]: exactly two
            return len(value) == len(args) and all(type_ok(v, a) for v, a in zip(value, args))
        item = args[0] if args else typing.Any
        return all(type_ok(v, item) for v in value)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if annotation is str:
        return isinstance(value, str)
    if annotation is dict:
        return isinstance(value, dict)
    return isinstance(value, annotation)


def check_fields(
    data: dict,
    schema: dict[str, typing.Any],
    where: str,
    error: type[SupernetError] = InputFileError,
    optional: tuple[str, ...] | set[str] = (),
) -> dict:
    """Require `data`'s keys to be `schema`'s (all but `optional` present) and each value of its type."""
    if not isinstance(data, dict):
        raise error(f"{where} must be a JSON object, not {json_name(data)}")
    unknown = sorted(set(data) - set(schema))
    if unknown:
        raise error(f"{where} has unknown field(s) {', '.join(unknown)}; allowed: {', '.join(schema)}")
    missing = [k for k in schema if k not in data and k not in optional]
    if missing:
        raise error(f"{where} lacks field(s) {', '.join(missing)}")
    for key, annotation in schema.items():
        if key in data and not type_ok(data[key], annotation):
            raise error(f"{where}: {key} is {json_name(data[key])}; allowed: {describe(annotation)}")
    return data
