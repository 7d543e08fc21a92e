"""`supernet latency import`: turn a kit's timings from another device into a `LatencyTable`, and validate a
table against the kit's held-out subnets as timed on that device.

Every check runs before anything is written: the manifest must match its `kit_id`, the timings must
carry that `kit_id`, the kit's space, one provider and precision, an intact checksum, and a finite
positive time for every graph of the manifest. The correction is fitted exactly as `build` fits it.
"""

from __future__ import annotations

import math
from pathlib import Path

from supernet import SearchSpace, SupernetError
from supernet.jsonfile import read_json

from .build import fit_correction
from .errors import LatencyTableError
from .kit import KIT_FORMAT, KIT_VERSION, canonical_sha256
from .table import LatencyTable, check_replaceable
from .timing import STATS, check_stat

TIMINGS_FORMAT = "supernet-kit-timings"
PRECISION_TARGET = {"fp32": "ort-cpu", "int8": "ort-cpu-int8"}


def load_manifest(kit: str | Path) -> dict:
    """The kit's manifest, refused if it is not one or was edited (content no longer matches `kit_id`)."""
    path = Path(kit) / "manifest.json" if Path(kit).is_dir() else Path(kit)
    manifest = read_json(path, "kit manifest", LatencyTableError)
    if manifest.get("format") != KIT_FORMAT or manifest.get("version") != KIT_VERSION:
        raise LatencyTableError(f"{path} is not a version-{KIT_VERSION} supernet latency kit manifest")
    if canonical_sha256({k: v for k, v in manifest.items() if k != "kit_id"}) != manifest.get("kit_id"):
        raise LatencyTableError(f"{path} was edited or is corrupt (its content does not match its kit_id)")
    return manifest


def load_timings(path: str | Path, manifest: dict, provider: str | None = None) -> dict:
    """Timings of exactly this kit: same id, space and precision, one provider, intact, complete, sane."""
    t = read_json(path, "timings file", LatencyTableError)
    if t.get("format") != TIMINGS_FORMAT:
        raise LatencyTableError(f"{path} is not a run_kit.py timings file")
    if canonical_sha256({k: v for k, v in t.items() if k != "sha256"}) != t.get("sha256"):
        raise LatencyTableError(f"{path} was edited or truncated (checksum mismatch); time the kit again")
    if t.get("kit_id") != manifest["kit_id"]:
        raise LatencyTableError(
            f"{path} holds timings of kit {str(t.get('kit_id'))[:12]}, not of this kit {manifest['kit_id'][:12]}"
        )
    for key in ("space_fingerprint", "precision"):
        if t.get(key) != manifest[key]:
            raise LatencyTableError(f"{path} has {key} {t.get(key)!r}, the kit {manifest[key]!r}")
    if not isinstance(t.get("provider"), str) or not t["provider"]:
        raise LatencyTableError(f"{path} does not name one onnxruntime provider")
    if provider is not None and t["provider"] != provider:
        raise LatencyTableError(f"{path} was timed on {t['provider']}, not on the requested {provider}")
    times = t.get("times")
    names = [g["name"] for g in manifest["graphs"]]
    if not isinstance(times, dict) or not t.get("complete"):
        raise LatencyTableError(f"{path} is unfinished; rerun run_kit.py with the same --out to complete it")
    missing, extra = set(names) - set(times), set(times) - set(names)
    if missing or extra:
        raise LatencyTableError(
            f"{path} does not match the kit's graphs ({len(missing)} missing, {len(extra)} unknown)"
        )
    for name, value in times.items():
        ok = isinstance(value, dict) and all(
            isinstance(value.get(s), (int, float)) and math.isfinite(value[s]) and value[s] > 0 for s in STATS
        )
        if not ok:
            raise LatencyTableError(f"{path}: graph {name} has no finite positive {', '.join(STATS)} times")
    return t


def import_table(
    kit: str | Path,
    timings_path: str | Path,
    *,
    out: str | Path,
    stat: str | None = None,
    provider: str | None = None,
    overwrite: bool = False,
) -> LatencyTable:
    """Build, check and save the table; nothing is written unless every check passed."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise LatencyTableError(f"{out} exists; pass --overwrite to replace it, or another --out")
    check_replaceable(out)
    manifest = load_manifest(kit)
    t = load_timings(timings_path, manifest, provider)
    stat = stat or t["stat"]
    check_stat(stat)
    try:
        space = SearchSpace.from_dict(manifest["space"])
    except SupernetError as e:
        raise LatencyTableError(f"kit manifest space is invalid: {e}") from None
    if space.fingerprint() != manifest["space_fingerprint"]:
        raise LatencyTableError("kit manifest space does not match its fingerprint (edited or corrupt)")
    times = {name: value[stat] for name, value in t["times"].items()}
    graphs = manifest["graphs"]
    metadata = {
        **t["device"],
        "source": "kit",
        "kit_id": manifest["kit_id"],
        "timings_sha256": t["sha256"],
        "warmup": t["warmup"],
        "repeats": t["repeats"],
        "kit_holdout": {g["name"]: g["arch"] for g in graphs if g["kind"] == "validate"},
        "kit_graphs": [{"name": g["name"]} for g in graphs],
    }
    table = LatencyTable(
        PRECISION_TARGET[manifest["precision"]], space, manifest["in_chans"], manifest["num_classes"],
        threads=t["threads"], batch=t["batch"], stat=stat, provider=t["provider"], metadata=metadata,
        entries={g["name"]: times[g["name"]] for g in graphs if g["kind"] == "layer"},
    )  # fmt: skip
    for g in graphs:
        if g["kind"] == "fit":
            raw = sum(table.entries[k] for k in g["layers"])
            table.fit_points.append(
                {
                    "arch": g["arch"],
                    "sum_ms": raw,
                    "num_layers": len(g["layers"]),
                    "measured_ms": times[g["name"]],
                }
            )
    fit_correction(table)
    LatencyTable.from_dict(table.to_dict())  # the same checks a reader applies, before writing
    table.save(out)
    return table


def holdout_timings(table: LatencyTable, timings_path: str | Path) -> tuple[list, list[float], dict]:
    """(archs, measured ms in the table's statistic) of the kit's held-out subnets, for `validate
    --timings`: the device's own measurements of subnets the correction never saw."""
    from supernet import ArchConfig

    holdout = table.metadata.get("kit_holdout")
    if not holdout:
        raise LatencyTableError(
            "the table was not imported from a kit; --timings needs a table from `latency import`"
        )
    kit = {"kit_id": table.metadata["kit_id"], "space_fingerprint": table.space_fingerprint}
    kit |= {"precision": table.precision, "graphs": table.metadata["kit_graphs"]}
    t = load_timings(timings_path, kit, table.provider)
    archs = [ArchConfig.from_string(a) for a in holdout.values()]
    return archs, [t["times"][n][table.stat] for n in holdout], t["device"]


def validate_timings(table: LatencyTable, timings_path: str | Path):
    """A `ValidationReport` of the table against the device's own timings of the kit's held-out subnets."""
    from .validate import ValidationReport

    archs, measured, device = holdout_timings(table, timings_path)
    predicted = [table.predict_ms(a) for a in archs]
    raw = [sum(v for _, v in table.breakdown(a)) for a in archs]
    report = ValidationReport(
        table.target, [str(a) for a in archs], predicted, measured, raw_sum_ms=raw, stat=table.stat
    )
    report.load = {k: device[k] for k in ("load_avg_start", "load_avg_end") if k in device}
    report.source = f"timed on the device by run_kit.py ({Path(timings_path).name})"
    return report
