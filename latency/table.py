"""`LatencyTable`: per-layer costs of every layer a search space can produce, for one target, plus the
fitted correction that turns their sum into an end-to-end prediction.

A plain sum of per-layer latencies is wrong on real runtimes: every separately timed layer pays the
runtime's per-call overhead (input/output binding, dispatch), while a whole network pays it once, and
neighbouring layers share caches. `Correction` models the end-to-end latency as
`scale * sum(entries) + per_layer_ms * num_layers + offset_ms`, least-squares fitted on subnets
measured end to end when the table is built. Count targets (`macs`, `params`, `fpga-int8`) are plain
sums (the identity correction).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from supernet import ArchConfig, SearchSpace, SupernetError
from supernet.files import atomic_write_text, make_dirs
from supernet.jsonfile import check_fields

from .errors import LatencyTableError, MissingEntryError
from .layers import LayerSpec, arch_layers
from .timing import STATS

FORMAT = "supernet-latency-table"
VERSION = 1
TARGETS = ("ort-cpu", "ort-cpu-int8", "torch-cpu", "torch-cuda", "fpga-int8", "macs", "params")
UNITS = {"macs": "MMACs", "params": "Mparams"}
ORT_PREFIX = "ort-"
CPU_PROVIDER = "CPUExecutionProvider"


def target_unit(target: str) -> str:
    return UNITS.get(target, "ms")


def target_precision(target: str) -> str:
    """`int8` for tables of int8 graphs (`ort-cpu-int8`, `fpga-int8`), else `fp32`."""
    return "int8" if target.endswith("int8") else "fp32"


@dataclass(frozen=True)
class Correction:
    """End-to-end = scale * sum + per_layer_ms * num_layers + offset_ms (identity by default)."""

    scale: float = 1.0
    per_layer_ms: float = 0.0
    offset_ms: float = 0.0

    def apply(self, total: float, num_layers: int) -> float:
        return self.scale * total + self.per_layer_ms * num_layers + self.offset_ms

    @classmethod
    def fit(cls, sums: list[float], num_layers: list[int], measured: list[float]) -> Correction:
        """Least squares on relative error (each point weighted by 1/measured), because the goal is a
        bounded *percentage* error for small and large subnets alike. Points a burst of load on a shared
        machine slowed down (relative residual more than 3 robust standard deviations, and over 5%, off
        the median) are dropped once and the fit repeated."""
        import numpy as np

        if len(measured) < 4:
            raise LatencyTableError(
                f"the correction needs at least 4 end-to-end measurements, got {len(measured)}"
            )
        y = np.asarray(measured, dtype=float)
        x = np.stack([np.asarray(sums, float), np.asarray(num_layers, float), np.ones_like(y)], axis=1)
        coef = _relative_lstsq(x, y)
        resid = x @ coef / y - 1
        dev = np.abs(resid - np.median(resid))
        keep = dev <= max(3 * 1.4826 * float(np.median(dev)), 0.05)
        if 4 <= keep.sum() < len(y):
            coef = _relative_lstsq(x[keep], y[keep])
            x, y = x[keep], y[keep]
        if coef[2] < 0:  # a negative per-inference overhead is not physical: refit without an offset
            coef = np.append(_relative_lstsq(x[:, :2], y), 0.0)
        if coef[0] <= 0:  # a non-positive scale would invert the ranking: fall back to a pure scale
            coef = np.array([float(np.sum(y * x[:, 0]) / np.sum(np.square(x[:, 0]))), 0.0, 0.0])
        return cls(*(float(c) for c in coef))


def _relative_lstsq(x, y):
    import numpy as np

    return np.linalg.lstsq(x / y[:, None], np.ones_like(y), rcond=None)[0]


@dataclass
class LatencyTable:
    """Per-layer costs for one (space, target, I/O shape, threads, batch, timing statistic).
    `entries` maps `LayerSpec.key` to ms (or to millions of MACs/params for count targets, see `unit`)."""

    target: str
    space: SearchSpace
    in_chans: int
    num_classes: int
    threads: int = 1
    batch: int = 1
    stat: str = "median"
    provider: str = ""
    entries: dict[str, float] = field(default_factory=dict)
    correction: Correction = field(default_factory=Correction)
    fit_points: list[dict] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    complete: bool = False

    def __post_init__(self) -> None:
        if not self.provider and self.target.startswith(ORT_PREFIX):  # as tables from before the field read
            self.provider = CPU_PROVIDER

    @property
    def unit(self) -> str:
        return target_unit(self.target)

    @property
    def precision(self) -> str:
        return target_precision(self.target)

    @property
    def space_fingerprint(self) -> str:
        return self.space.fingerprint()

    # ---- prediction -----------------------------------------------------------------------
    def _layers(self, arch: ArchConfig) -> list[LayerSpec]:
        if not self.complete:
            raise LatencyTableError(
                f"table for {self.target} is incomplete ({len(self.entries)} entries, no end-to-end fit); "
                "rerun `supernet latency build` with the same --out to resume it"
            )
        return arch_layers(self.space, arch.validate(self.space), self.in_chans, self.num_classes)

    def _entry(self, spec: LayerSpec) -> float:
        try:
            return self.entries[spec.key]
        except KeyError:
            raise MissingEntryError(
                f"table has no entry for layer {spec.key} (target {self.target}, space {self.space.name}); "
                "rebuild it with `supernet latency build` for this space"
            ) from None

    def predict(self, arch: ArchConfig) -> float:
        """Predicted end-to-end cost of `arch` in `self.unit`; tens of microseconds per call."""
        layers = self._layers(arch)
        return self.correction.apply(sum(self._entry(s) for s in layers), len(layers))

    def predict_ms(self, arch: ArchConfig) -> float:
        """Predicted latency in ms; for count tables (MMACs, Mparams) use `predict`, which returns `unit`."""
        if self.unit != "ms":
            raise LatencyTableError(
                f"table for {self.target} holds {self.unit}, not ms; use predict() (returns {self.unit})"
            )
        return self.predict(arch)

    def breakdown(self, arch: ArchConfig) -> list[tuple[LayerSpec, float]]:
        """Each layer of `arch` with its raw table entry, in forward order (entries sum to the raw total;
        the correction applies to the whole network, not per layer)."""
        return [(spec, self._entry(spec)) for spec in self._layers(arch)]

    # ---- checks ---------------------------------------------------------------------------
    def check_space(self, space: SearchSpace) -> None:
        if space.fingerprint() != self.space_fingerprint:
            raise LatencyTableError(
                f"table was built for space {self.space.name} (fingerprint {self.space_fingerprint}), "
                f"not {space.name} (fingerprint {space.fingerprint()}); build a table for this space"
            )

    def check_target(self, target: str) -> None:
        if target != self.target:
            raise LatencyTableError(
                f"table is for target {self.target}, not {target}; build one for {target}"
            )

    def check_io(self, in_chans: int, num_classes: int) -> None:
        if (in_chans, num_classes) != (self.in_chans, self.num_classes):
            raise LatencyTableError(
                f"table was built for {self.in_chans} input channels and {self.num_classes} classes, "
                f"not {in_chans} and {num_classes}; rebuild with --in-chans/--num-classes"
            )

    def check_deployment(self, provider: str, ships_int8: bool, provider_given: bool = False) -> None:
        """For onnxruntime tables: refuse shipping a model of another precision or provider than timed.
        An int8 table needs the int8 model shipped; an fp32 table fits the fp32 `model.onnx`. Any other
        table refuses a `provider_given` on the command line, which it would ignore."""
        if not self.target.startswith(ORT_PREFIX):
            if provider_given:
                raise LatencyTableError(
                    f"--provider applies to onnxruntime latency tables (ort-cpu, ort-cpu-int8), and the --lut "
                    f"table is a {self.target} table; leave it out"
                )
            return
        if self.precision == "int8" and not ships_int8:
            raise LatencyTableError(
                f"table {self.target} times int8 graphs but only the fp32 model would ship; pass --int8"
            )
        if self.provider and self.provider != provider:
            raise LatencyTableError(
                f"table was timed on onnxruntime provider {self.provider}, not {provider}; "
                f"pass --provider {self.provider} or use a table timed on {provider}"
            )

    # ---- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "target": self.target,
            "unit": self.unit,
            "space_fingerprint": self.space_fingerprint,
            "space": self.space.to_dict(),
            "in_chans": self.in_chans,
            "num_classes": self.num_classes,
            "threads": self.threads,
            "batch": self.batch,
            "stat": self.stat,
            "provider": self.provider,
            "precision": self.precision,
            "metadata": self.metadata,
            "complete": self.complete,
            "correction": asdict(self.correction),
            "fit_points": self.fit_points,
            "entries": self.entries,
        }

    def save(self, path: str | Path) -> None:
        """Atomic write (temp file + os.replace): an interrupted build never leaves a half-written table."""
        path = Path(path)
        make_dirs(path.parent)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def from_dict(cls, data: dict, source: str = "table") -> LatencyTable:
        def bad(what: str) -> LatencyTableError:
            return LatencyTableError(f"{source} is not a valid latency table: {what}")

        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise bad(f'missing "format": "{FORMAT}"')
        if data.get("version") != VERSION:
            raise bad(f"version {data.get('version')!r} is not supported; this code reads version {VERSION}")
        if data.get("target") not in TARGETS:
            raise bad(f"target {data.get('target')!r} is unknown; known targets: {', '.join(TARGETS)}")
        _check_fields(data, source)
        try:
            space = SearchSpace.from_dict(data["space"])
            entries = {str(k): float(v) for k, v in data["entries"].items()}
            table = cls(
                target=data["target"],
                space=space,
                in_chans=int(data["in_chans"]),
                num_classes=int(data["num_classes"]),
                threads=int(data["threads"]),
                batch=int(data["batch"]),
                stat=str(data["stat"]),
                provider=str(
                    data.get("provider", CPU_PROVIDER if data["target"].startswith(ORT_PREFIX) else "")
                ),
                entries=entries,
                correction=Correction(
                    *(float(data["correction"][k]) for k in ("scale", "per_layer_ms", "offset_ms"))
                ),
                fit_points=list(data["fit_points"]),
                metadata=dict(data["metadata"]),
                complete=bool(data["complete"]),
            )
        except SupernetError as e:
            raise bad(str(e)) from None
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise bad(f"field {e} is missing or has the wrong type") from None
        if space.fingerprint() != data.get("space_fingerprint"):
            raise bad("its space does not match its recorded fingerprint (edited or corrupt)")
        values = [*entries.values(), *asdict(table.correction).values()]
        if not all(math.isfinite(v) for v in values) or any(v < 0 for v in entries.values()):
            raise bad("entries and correction must be finite and entries non-negative")
        c = table.correction
        if c.scale <= 0 or c.offset_ms < 0:
            raise bad(f"correction scale must be > 0 and offset >= 0, got {c.scale:g} and {c.offset_ms:g}")
        for name in ("in_chans", "num_classes", "threads", "batch"):
            if getattr(table, name) < 1:
                raise bad(f"{name} must be >= 1, got {getattr(table, name)}")
        if table.stat not in STATS:
            raise bad(f"statistic {table.stat!r} is unknown; allowed: {', '.join(STATS)}")
        return table

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        path = Path(path)
        if not path.is_file():
            what = "not found" if not path.exists() else "is a folder," if path.is_dir() else "is"
            what = what if what == "not found" else f"{what} not a table file"
            raise LatencyTableError(f"latency table {what}: {path} (make one with `supernet latency build`)")
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise LatencyTableError(f"latency table {path} is not valid JSON ({e}); rebuild it") from None
        return cls.from_dict(data, source=str(path))


_SCHEMA = {
    "format": str, "version": int, "target": str, "unit": str, "space_fingerprint": str, "space": dict,
    "in_chans": int, "num_classes": int, "threads": int, "batch": int, "stat": str, "provider": str,
    "precision": str, "metadata": dict, "complete": bool, "correction": dict, "fit_points": list[dict],
    "entries": dict,
}  # fmt: skip
_FIT_POINT = {"arch": str, "sum_ms": float, "num_layers": int, "measured_ms": float}


def _check_fields(data: dict, source: str) -> None:
    """Every field of the kind `to_dict` writes (nothing is coerced: int(1.5), bool("x")); unit and
    precision, derived from the target, must agree with it. Tables from before the provider and precision
    fields existed have neither, and are read as before."""
    where = f"{source} is not a valid latency table"
    check_fields(data, _SCHEMA, where, LatencyTableError, optional=("unit", "provider", "precision"))
    for i, point in enumerate(data["fit_points"]):
        check_fields(point, _FIT_POINT, f"{where}: fit_points[{i}]", LatencyTableError)
        if min(point["sum_ms"], point["measured_ms"]) < 0:
            raise LatencyTableError(f"{where}: fit_points[{i}] has a negative time: {point}")
    target = data["target"]
    for name, want in (("unit", target_unit(target)), ("precision", target_precision(target))):
        if name in data and data[name] != want:
            raise LatencyTableError(
                f"{where} {name} {data[name]!r} does not match target {target} ({want!r})"
            )
    provider = data.get("provider", CPU_PROVIDER if target.startswith(ORT_PREFIX) else "")
    if bool(provider) != target.startswith(ORT_PREFIX):
        want = "an onnxruntime execution provider" if target.startswith(ORT_PREFIX) else '""'
        raise LatencyTableError(f"{where}: provider must be {want} for target {target}, got {provider!r}")


def check_replaceable(path: str | Path) -> None:
    """`--overwrite` replaces a latency table, never another file at `--out` (a checkpoint pointer, data):
    LatencyTableError unless `path` is missing or starts as a table does (the first 4 KiB are read)."""
    path = Path(path)
    if not path.is_file():
        return
    with open(path, "rb") as f:
        head = f.read(4096)
    if not (head.lstrip().startswith(b"{") and f'"format": "{FORMAT}"'.encode() in head):
        raise LatencyTableError(
            f"--out {path} is not a latency table; --overwrite replaces only a table (an earlier build or "
            "import): choose another --out"
        )
