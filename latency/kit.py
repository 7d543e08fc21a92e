"""`supernet latency kit`: everything needed to time a search space on another device, as ONNX files.

A kit folder holds every distinct layer graph of the space (one file per `LayerSpec` key), the whole
subnets that fit the end-to-end correction (the same ones `build` measures) and held-out subnets to
validate it (the ones `validate` draws), `manifest.json` (settings, the space, every file with its
sha256, and `kit_id`, the sha256 of the rest of the manifest) and `run_kit.py`, the standalone timer
(standard library, numpy and onnxruntime only). Graphs are written by `latency.measure`, so they are the
graphs `build` times and `extract` ships, fp32 or int8 QDQ.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

from supernet import SearchSpace
from supernet.files import atomic_write, atomic_write_text, make_dirs
from supernet.outdir import check_out_dir

from .build import FIT_SEED, check_positive, fit_archs
from .errors import LatencyTableError, OptionError
from .layers import arch_layers, space_layers
from .measure import module_graph, subnet_graph
from .modules import layer_input, layer_module
from .timing import DEFAULT_TIMING, Timing
from .validate import VALIDATE_SEED, validation_archs

KIT_FORMAT = "supernet-latency-kit"
KIT_VERSION = 1
PRECISIONS = ("fp32", "int8")
RUNNER = Path(__file__).with_name("run_kit.py")
# What a kit folder holds: --overwrite removes these and nothing else.
KIT_FILES = ("layers", "subnets", "manifest.json", "run_kit.py", ".kit-settings.json")


def canonical_sha256(data: dict) -> str:
    """sha256 of a JSON object's canonical form (sorted keys, no spaces): ids of manifests and timings."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_kit(
    space: SearchSpace,
    out: str | Path,
    *,
    in_chans: int = 3,
    num_classes: int = 10,
    precision: str = "fp32",
    fit_samples: int = 20,
    holdout: int = 50,
    timing: Timing = DEFAULT_TIMING,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Write a kit for `space` into the folder `out` and return its manifest. Graphs already there from an
    interrupted run with the same settings are kept (their hashes are recomputed), so it resumes.

    `timing` gives the runner's defaults (warm-up, repeats, statistic); the threads are chosen on the
    device (`run_kit.py --threads`), so `timing.threads` must be 1, the runner's default."""
    from tqdm import tqdm

    check_positive(in_chans=in_chans, num_classes=num_classes, holdout=holdout)
    if timing.threads != 1:
        raise OptionError(
            f"a kit's threads are chosen on the device (run_kit.py --threads), not here; got threads={timing.threads}"
        )
    if fit_samples < 4:
        raise OptionError(f"--fit-samples must be at least 4 (the correction has 3 terms), got {fit_samples}")
    if precision not in PRECISIONS:
        raise OptionError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    out = Path(out)
    check_out_dir(out)  # an existing file, a path under one, read-only: one line before any work
    settings = {
        "space_fingerprint": space.fingerprint(),
        "in_chans": in_chans,
        "num_classes": num_classes,
        "precision": precision,
        "batch": 1,
    }
    stamp = out / ".kit-settings.json"
    if (out / "manifest.json").exists() and not overwrite:
        raise LatencyTableError(
            f"{out} already holds a kit; pass --overwrite to replace it, or another --out"
        )
    is_kit = (out / "manifest.json").is_file() or stamp.is_file()
    names = [p.name for p in out.iterdir()] if out.is_dir() else []
    others = sorted(n for n in names if n not in KIT_FILES and not n.startswith("."))
    if others and not is_kit:  # never removed, not even with --overwrite: only a kit's own files are
        more = ", ..." if len(others) > 3 else ""
        raise LatencyTableError(
            f"--out {out} is not a kit folder (it holds {', '.join(others[:3])}{more}); choose an empty or new "
            "folder (--overwrite replaces only an earlier kit)"
        )
    if names and not overwrite:
        if not stamp.is_file() or _read_stamp(stamp) != settings:
            raise LatencyTableError(f"{out} is not empty; pass --overwrite or another --out")
    if overwrite and is_kit:  # the kit's own files; anything else there (e.g. timings.json) stays
        for name in KIT_FILES:
            if (out / name).is_dir():
                shutil.rmtree(out / name)
            else:
                (out / name).unlink(missing_ok=True)
    make_dirs(out, "kit folder")
    atomic_write_text(stamp, json.dumps(settings))

    graphs: list[dict] = []
    bar = dict(disable=None if progress else True)  # None: bars only on a terminal
    for spec in tqdm(space_layers(space, in_chans, num_classes), desc=f"{precision} layer graphs", **bar):
        path = out / "layers" / f"{spec.key}.onnx"
        if not path.is_file():
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_suffix(".tmp")
            module_graph(layer_module(spec), layer_input(spec), tmp, precision=precision).replace(path)
        graphs.append({"name": spec.key, "kind": "layer", "file": f"layers/{path.name}"})
    subnets = [("fit", a) for a in fit_archs(space, fit_samples)]
    subnets += [("validate", a) for a in validation_archs(space, holdout)]
    counts = {"fit": 0, "validate": 0}
    for kind, arch in tqdm(subnets, desc=f"{precision} subnet graphs", **bar):
        name = f"{kind}-{counts[kind]:03d}"
        counts[kind] += 1
        path = out / "subnets" / f"{name}.onnx"
        if not path.is_file():
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_suffix(".tmp")
            graph = subnet_graph(
                space, arch, in_chans=in_chans, num_classes=num_classes, path=tmp, precision=precision
            )
            graph.replace(path)
        layers = [s.key for s in arch_layers(space, arch, in_chans, num_classes)]
        graphs.append(
            {"name": name, "kind": kind, "file": f"subnets/{path.name}", "arch": str(arch), "layers": layers}
        )
    for g in graphs:
        g["sha256"] = _sha256(out / g["file"])
    manifest = {
        "format": KIT_FORMAT,
        "version": KIT_VERSION,
        **settings,
        "space": space.to_dict(),
        "fit_seed": FIT_SEED,
        "validate_seed": VALIDATE_SEED,
        "defaults": {
            "warmup": timing.warmup,
            "repeats": timing.repeats,
            "subnet_repeats": timing.subnet().repeats,
            "stat": timing.stat,
        },
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runner_sha256": _sha256(RUNNER),
        "graphs": graphs,
    }
    manifest["kit_id"] = canonical_sha256(manifest)
    atomic_write(out / "run_kit.py", lambda tmp: shutil.copyfile(RUNNER, tmp))
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1))
    stamp.unlink()
    return manifest


def _read_stamp(stamp: Path) -> dict | None:
    """An unfinished kit's settings; None if the stamp is unreadable (then the folder is not resumed)."""
    try:
        return json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
