"""Wire a training run and a latency table into search and export: load once, check compatibility first.

Every check that can fail on user input (checkpoint, table, target, I/O shape, budget) runs before any
data is loaded or anything is written, so bad input costs a second and leaves no files.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from latency.onnx import CPU_PROVIDER
from latency.table import LatencyTable
from supernet import ArchConfig, ElasticMobileNetV2, SearchSpace, SupernetError
from supernet.preprocess import Preprocessing
from supernet.train.augment import Augmentation
from supernet.train.checkpoint import Checkpoint, load_checkpoint
from supernet.train.config import DEVICE_PATTERN, TrainConfig
from supernet.train.data import load_data
from supernet.train.evalset import EvalSet, calibration_set
from supernet.train.evaluate import evaluate_subnet

from .errors import ExtractError
from .export import EvalData, LatencySpec
from .files import sha256_file

MEASURED = ("ort-cpu", "ort-cpu-int8", "torch-cpu", "torch-cuda")


def load_eval_data(
    config: TrainConfig,
    space: SearchSpace,
    *,
    num_calib: int | None = None,
    num_search_calib: int | None = None,
    workers: int = 0,
    expected: Preprocessing | None = None,
) -> EvalData:
    """The run's own data set and validation split, loaded exactly as the Trainer loads them (same seed,
    fraction and image size; no augmentation); calibration images are a fixed seeded subset of the
    training split. Validation and test stream (never held whole); `workers` DataLoader processes
    decode the images. `expected`: the checkpoint's saved preprocessing contract; data that would be
    decoded differently today (e.g. an image folder whose classes changed) is refused, because the card
    would then describe a transform the model was not evaluated with."""
    bundle = load_data(
        config.dataset,
        config.data_dir,
        seed=config.seed,
        val_fraction=config.val_fraction,
        augment=False,
        img_size=config.img_size or max(space.resolutions),
        augmentation=Augmentation.from_config(config),  # its interpolation is part of the contract
    )
    if expected is not None and bundle.preprocessing != expected:
        now, saved = bundle.preprocessing.to_dict(), expected.to_dict()
        diff = ", ".join(
            f"{k} {saved.get(k)!r} saved vs {now[k]!r} now" for k in now if now[k] != saved.get(k)
        )
        raise ExtractError(
            f"data set {config.dataset!r} ({config.data_dir or 'default location'}) no longer matches the "
            f"checkpoint's preprocessing: {diff}; restore the data the supernet was trained on"
        )
    num_calib = config.calib_images if num_calib is None else num_calib
    calib = calibration_set(bundle, num_calib, seed=config.seed, workers=workers)
    search_calib = (
        calibration_set(bundle, num_search_calib, seed=config.seed + 1, workers=workers)
        if num_search_calib
        else None
    )
    return EvalData(
        bundle.name,
        bundle.preprocessing,
        calib=calib,
        val=EvalSet(bundle.val, bundle.preprocessing, cache=False, workers=workers),
        test=EvalSet(bundle.test, bundle.preprocessing, cache=False, workers=workers),
        search_calib=search_calib,
    )


def checkpoint_eval_data(
    ckpt: Checkpoint, *, num_calib: int | None, num_search_calib: int | None = None, workers: int = 0
) -> EvalData:
    """`load_eval_data` for a training run: its config and space, checked against its saved contract.

    A count asked for beyond the training split is capped to the split, and said on stderr (the card
    records the count used)."""
    data = load_eval_data(
        ckpt.config,
        ckpt.space,
        num_calib=num_calib,
        num_search_calib=num_search_calib,
        workers=workers,
        expected=ckpt.preprocessing,
    )
    for option, asked, images in (
        ("--calib-images", num_calib, data.calib),
        ("--search-calib-images", num_search_calib, data.search_calib),
    ):
        if asked and images is not None and len(images) < asked:
            print(
                f"note: {option} {asked} is more than the {len(images)} images of the training split; "
                f"using all {len(images)}",
                file=sys.stderr,
            )
    return data


def open_table(
    path: str | Path,
    model: ElasticMobileNetV2,
    *,
    target: str | None,
    provider: str = CPU_PROVIDER,
    int8: bool = False,
    provider_given: bool = False,
) -> LatencyTable:
    """Load a table and require that it fits the checkpoint's space, I/O shape, the requested target and
    the onnxruntime provider and precision of the model that ships (`provider_given`: --provider was
    given on the command line, refused for a table not timed on onnxruntime)."""
    table = LatencyTable.load(path)
    table.check_space(model.space)
    if target is not None:
        table.check_target(target)
    table.check_io(model.in_chans, model.num_classes)
    table.check_deployment(provider, int8, provider_given)
    table.predict(model.space.smallest())  # raises for an incomplete table before any work is done
    return table


def measure_fn(
    target: str, threads: int, stat: str = "median", provider: str = CPU_PROVIDER
) -> Callable[[Path, torch.nn.Module | None, ArchConfig], float] | None:
    """How to time a shipped file on `target` with the table's statistic, so measured and predicted latency
    are comparable; None for estimates (fpga-int8, counts) and providers this machine lacks."""
    if target not in MEASURED:
        return None
    from latency.measure import ORT_TARGETS, measure_module_ms, measure_onnx_ms
    from latency.onnx import check_provider
    from latency.timing import Timing

    if target in ORT_TARGETS:
        try:
            check_provider(provider)
        except SupernetError:
            return None
    timing = Timing(stat=stat, threads=threads)

    def measure(path: Path, module: torch.nn.Module | None, arch: ArchConfig) -> float | None:
        if target in ORT_TARGETS:
            return measure_onnx_ms(path, timing, provider=provider)
        if module is None:  # an int8 ONNX file has no eager PyTorch twin to time on torch targets
            return None
        return measure_module_ms(
            module,
            torch.zeros(1, module.conv_stem.in_channels, arch.resolution, arch.resolution),
            target,
            timing,
        )

    return measure


def latency_spec(
    table: LatencyTable | None, target: str | None, table_path: str | Path | None
) -> LatencySpec:
    if table is None:
        target = target or "ort-cpu"
        return LatencySpec(target, measure_ms=measure_fn(target, 1))
    info = {
        "path": str(table_path),
        "sha256": sha256_file(table_path),
        "target": table.target,
        "unit": table.unit,
        "threads": table.threads,
        "stat": table.stat,
        "provider": table.provider or None,
        "precision": table.precision,
    }
    return LatencySpec(
        table.target,
        predict_ms=table.predict,
        measure_ms=measure_fn(table.target, table.threads, table.stat, table.provider or CPU_PROVIDER),
        threads=table.threads,
        table=info,
        stat=table.stat,
        precision=table.precision,
        unit=table.unit,
    )


def score_fn(model: ElasticMobileNetV2, data: EvalData) -> Callable[[ArchConfig], float]:
    """Validation accuracy of an arch after exact BN recalibration (never the test split)."""

    def score(arch: ArchConfig) -> float:
        calib = data.search_calib if data.search_calib is not None else data.calib
        return evaluate_subnet(model, arch, calib, data.val)

    return score


def source_info(ckpt: Checkpoint) -> dict:
    return {
        "checkpoint": str(ckpt.path),
        "weights_sha256": ckpt.sha256,
        "epoch": ckpt.epoch,
        "step": ckpt.step,
        "train_config": ckpt.config.to_dict(),
    }


def place_model(model: ElasticMobileNetV2, device: str) -> torch.device:
    """Move the supernet to `device` (auto: the first CUDA GPU if any, else the CPU) for BN recalibration and
    scoring; the shipped subnet is copied out to the CPU, exported, verified and measured as before."""
    from supernet.train.device import resolve_device

    if re.fullmatch(DEVICE_PATTERN, device) is None:
        raise ExtractError(f"--device {device!r} is unknown; allowed: auto, cpu, cuda, cuda:N")
    where = resolve_device(device)
    model.to(where)
    return where


def open_checkpoint(path: str | Path) -> Checkpoint:
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt.model, ElasticMobileNetV2):
        raise ExtractError(f"{path} does not hold an elastic supernet")
    return ckpt
