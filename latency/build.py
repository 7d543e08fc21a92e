"""Build a lookup table: enumerate every distinct layer of a space, time each one on the target (resumable),
then fit the end-to-end correction on a few whole subnets. Count targets are filled analytically."""

from __future__ import annotations

import datetime
import os
import platform
import random
import time
from pathlib import Path

from supernet import SearchSpace
from supernet.checks import check_int
from supernet.outdir import check_out_file

from .counts import layer_macs_params
from .errors import LatencyTableError, OptionError, TargetError
from .layers import arch_layers, space_layers
from .measure import MEASURED_TARGETS, ORT_TARGETS, check_target, measure_arch_ms, measure_module_ms
from .modules import layer_input, layer_module
from .onnx import CPU_PROVIDER, check_provider
from .table import TARGETS, Correction, LatencyTable, check_replaceable
from .timing import DEFAULT_TIMING, Timing

FIT_SEED = 1234  # fit archs come from their own seed so `validate` (seed 0) tests on unseen subnets
SAVE_EVERY_S = 10.0


def machine_metadata(target: str) -> dict:
    """Where and with what the table was measured, so a reader can tell whether it applies to them."""
    import onnx
    import onnxruntime
    import timm
    import torch

    device = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").is_file():
        names = [
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in ln
        ]
        device = names[0] if names else device
    timer = {}
    if target == "torch-cuda":
        from ._cuda_timer import REPLAYS

        device = torch.cuda.get_device_name()
        timer = {"timer": f"CUDA graph of each pass, {REPLAYS} replays between CUDA events a sample"}
    return {
        **timer,
        "device": device,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "onnx": onnx.__version__,
            "timm": timm.__version__,
        },
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def count_table(space: SearchSpace, target: str, in_chans: int, num_classes: int) -> LatencyTable:
    """Exact `macs` or `params` table (millions); a plain sum, so no correction."""
    index = {"macs": 0, "params": 1}[target]
    entries = {s.key: layer_macs_params(s)[index] / 1e6 for s in space_layers(space, in_chans, num_classes)}
    return LatencyTable(
        target,
        space,
        in_chans,
        num_classes,
        entries=entries,
        complete=True,
        metadata={
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "convention": "MACs of convs and classifier at batch 1; params incl. BN affine (see latency/counts.py)",
        },
    )


def fit_archs(space: SearchSpace, num: int, seed: int = FIT_SEED) -> list:
    """Smallest, largest and random subnets: the extremes anchor the fit, the rest cover the middle."""
    rng = random.Random(seed)
    return [space.smallest(), space.largest(), *(space.sample(rng) for _ in range(max(num - 2, 0)))]


def _settings(table: LatencyTable) -> tuple:
    t = table
    return (t.target, t.space_fingerprint, t.in_chans, t.num_classes, t.threads, t.batch, t.stat, t.provider)


def _resume(out: Path, fresh: LatencyTable) -> LatencyTable:
    old = LatencyTable.load(out)
    if _settings(old) != _settings(fresh):
        raise LatencyTableError(
            f"{out} holds a table for (target, space, in_chans, num_classes, threads, batch, stat, provider) "
            f"= {_settings(old)}, not {_settings(fresh)}; pass --overwrite or another --out"
        )
    fresh.entries, fresh.fit_points = old.entries, old.fit_points
    return fresh


def check_positive(**values: int) -> None:
    """OptionError naming the first option (as `--in-chans`) that is not an integer >= 1 (the project's
    one set of range checks, `supernet.checks`)."""
    for name, value in values.items():
        check_int(f"--{name.replace('_', '-')}", value, lo=1, error=OptionError)


def build_table(
    space: SearchSpace,
    target: str,
    out: str | Path,
    *,
    in_chans: int = 3,
    num_classes: int = 10,
    timing: Timing = DEFAULT_TIMING,
    batch: int = 1,
    fit_samples: int = 20,
    overwrite: bool = False,
    progress: bool = True,
    fpga_preset: str = "zcu102-b4096",
    provider: str = CPU_PROVIDER,
) -> LatencyTable:
    """Measure (or compute) a complete table for `target` and save it to `out`.

    Measured targets save progress every few seconds; running again with the same `out` resumes where
    the last run stopped. `fit_samples` whole subnets (at least 4) are then measured end to end to fit
    the correction (see `Correction`); their measurements are stored in the table as `fit_points`.
    `timing` says how each layer is timed (whole subnets get `timing.subnet()`); its statistic and
    threads are the table's. `provider` is the onnxruntime execution provider
    of the `ort-*` targets. An existing `out` is never replaced without `overwrite` (a measured table with
    the same settings is resumed). `fpga_preset` names the device of the analytic `fpga-int8` target.
    """
    if target not in TARGETS:
        raise TargetError(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")
    check_positive(in_chans=in_chans, num_classes=num_classes, batch=batch)
    if fit_samples < 4:
        raise OptionError(f"--fit-samples must be at least 4 (the correction has 3 terms), got {fit_samples}")
    out = Path(out)
    check_out_file(out, overwrite=True)  # before any measuring: a file path, not under a file, writable
    if overwrite:
        check_replaceable(out)
    if target in ("macs", "params", "fpga-int8") and out.exists() and not overwrite:
        raise LatencyTableError(f"{out} exists; pass --overwrite to replace it, or another --out")
    if target in ("macs", "params"):
        table = count_table(space, target, in_chans, num_classes)
    elif target == "fpga-int8":
        from .fpga_table import fpga_table

        table = fpga_table(space, in_chans, num_classes, fpga_preset)
    else:
        check_target(target)  # before anything touches the device
        if target in ORT_TARGETS:
            check_provider(provider)
        elif provider != CPU_PROVIDER:
            raise OptionError(
                f"--provider is for the onnxruntime targets ({', '.join(ORT_TARGETS)}), not {target}"
            )
        settings = dict(
            threads=timing.threads, batch=batch, stat=timing.stat, metadata=machine_metadata(target)
        )
        settings["provider"] = provider if target in ORT_TARGETS else ""
        table = LatencyTable(target, space, in_chans, num_classes, **settings)
        if out.exists() and not overwrite:
            table = _resume(out, table)
        _measure_table(table, out, timing, fit_samples=fit_samples, progress=progress)
    table.save(out)
    return table


def fit_correction(table: LatencyTable) -> None:
    """Fit the end-to-end correction from the table's `fit_points` and mark it complete (build and import)."""
    pts = table.fit_points
    table.correction = Correction.fit(
        [p["sum_ms"] for p in pts], [p["num_layers"] for p in pts], [p["measured_ms"] for p in pts]
    )
    table.complete = True


def _measure_table(
    table: LatencyTable, out: Path, timing: Timing, *, fit_samples: int, progress: bool
) -> None:
    """Fill `table` in place: missing layers first (saved as it goes), then the end-to-end fit. `timing`'s
    statistic and threads are the table's (a resumed table keeps its own)."""
    from tqdm import tqdm

    check_target(table.target)
    assert table.target in MEASURED_TARGETS
    assert (timing.stat, timing.threads) == (table.stat, table.threads)
    where = {"provider": table.provider} if table.target in ORT_TARGETS else {}
    table.metadata.update(warmup=timing.warmup, repeats=timing.repeats, load_avg_start=os.getloadavg()[0])
    layers = space_layers(table.space, table.in_chans, table.num_classes)
    todo = [s for s in layers if s.key not in table.entries]
    last_save = time.monotonic()
    for spec in tqdm(
        todo, desc=f"layers on {table.target}", disable=None if progress else True, unit="layer"
    ):
        example = layer_input(spec, table.batch)
        table.entries[spec.key] = measure_module_ms(
            layer_module(spec), example, table.target, timing, **where
        )
        if time.monotonic() - last_save > SAVE_EVERY_S:
            table.save(out)
            last_save = time.monotonic()
    table.save(out)

    archs = fit_archs(table.space, fit_samples)[len(table.fit_points) :]
    for arch in tqdm(archs, desc="end-to-end fit", disable=None if progress else True, unit="subnet"):
        specs = arch_layers(table.space, arch, table.in_chans, table.num_classes)
        measured = measure_arch_ms(
            table.space, arch, table.target, in_chans=table.in_chans, num_classes=table.num_classes,
            timing=timing.subnet(), batch=table.batch, **where,
        )  # fmt: skip
        raw = sum(table.entries[s.key] for s in specs)
        table.fit_points.append(
            {"arch": str(arch), "sum_ms": raw, "num_layers": len(specs), "measured_ms": measured}
        )
        table.save(out)
    table.metadata["load_avg_end"] = os.getloadavg()[0]
    fit_correction(table)
