"""Ship one subnet: extract it as a stock timm model, recalibrate BN, export ONNX, verify, measure, card.

Everything is written into a staging folder and moved into `out_dir` only when every check passed, the
card last: a folder with a `card.json` holds a verified export, and a failed run leaves no such folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

import torch

from latency.counts import count_macs_params
from supernet import ArchConfig, ElasticMobileNetV2, extract_subnet
from supernet.preprocess import Preprocessing
from supernet.subnet_io import save_subnet
from supernet.train.bn_calib import recalibrate_bn
from supernet.train.evalset import EvalSet

from .card import build_card, file_entries, preprocessing
from .files import staged_output, write_json
from .onnx_io import check_onnx, check_parity, export_onnx, ort_logits, ort_session, set_metadata

PARITY_IMAGES = 256


@dataclass
class EvalData:
    """The images extraction needs, each prepared by the run's preprocessing contract at an arch's resolution.
    `calib` (BN recalibration of the shipped subnet, int8 calibration) and `search_calib` (a smaller seeded
    set for scoring archs in search: ranking needs less precision than the final statistics) come from
    the training split; `val` scores archs in search; `test` is only reported."""

    dataset: str
    preprocessing: Preprocessing
    _: KW_ONLY
    calib: EvalSet
    val: EvalSet
    test: EvalSet | None
    search_calib: EvalSet | None = None


@dataclass
class LatencySpec:
    """Where the subnet will run: `target` and how to predict (table) and measure (a file -> ms) it there."""

    target: str
    _: KW_ONLY
    predict_ms: Callable[[ArchConfig], float] | None = None
    measure_ms: Callable[[Path, torch.nn.Module, ArchConfig], float] | None = None
    threads: int = 1
    table: dict = field(default_factory=dict)
    stat: str = "median"  # statistic of measured latencies (the table's)
    precision: str = "fp32"  # the model the budget is for: int8 tables budget model.int8.onnx
    unit: str = "ms"  # of `predict_ms` (a count table predicts MMACs or Mparams)


def _ort_accuracy(session, split: EvalSet, resolution: int) -> float:
    """Top-1 accuracy of an ONNX session over a split, streamed batch by batch."""
    correct = 0
    for images, labels in split.batches(resolution):
        correct += int((ort_logits(session, images).argmax(1) == labels.numpy()).sum())
    return correct / max(1, len(split))


def _accuracies(session, data: EvalData, resolution: int) -> dict:
    acc = {"val": _ort_accuracy(session, data.val, resolution), "val_images": len(data.val)}
    if data.test is not None:
        acc |= {"test": _ort_accuracy(session, data.test, resolution), "test_images": len(data.test)}
    return acc


def export_arch(
    supernet: ElasticMobileNetV2,
    arch: ArchConfig,
    *,
    out_dir: str | Path,
    data: EvalData,
    latency: LatencySpec,
    source: dict | None = None,
    int8: bool = False,
    dynamo: bool = False,
    atol: float = 1e-4,
    extra: dict | None = None,
) -> dict:
    """Export `arch` of `supernet` into `out_dir` (model.onnx, [model.int8.onnx], model.safetensors +
    model.json (the timm model, `supernet.load_subnet`), arch.json, card.json).

    Raises VerificationError (nothing written) when onnx.checker or the onnxruntime/PyTorch parity check
    (max abs logit difference <= `atol` on real validation images) fails. Returns the card.
    """
    space = supernet.space
    arch.validate(space)
    res, in_chans, num_classes = arch.resolution, supernet.in_chans, supernet.num_classes
    contract = data.preprocessing.at(res)
    recalibrate_bn(supernet, arch, data.calib.images(res))
    subnet = extract_subnet(supernet, arch, preprocessing=contract).eval()
    macs, params = count_macs_params(space, arch, in_chans, num_classes)
    with staged_output(out_dir) as stage:
        onnx_path = export_onnx(subnet, stage / "model.onnx", res, in_chans, dynamo=dynamo)
        set_metadata(onnx_path, {**contract.onnx_metadata(), "arch": str(arch)})
        check_onnx(onnx_path)
        session = ort_session(onnx_path, latency.threads)
        parity_images = data.val.head(PARITY_IMAGES).images(res)
        diff = check_parity(subnet, session, parity_images, atol)
        fp32 = {
            "file": "model.onnx",
            "accuracy": _accuracies(session, data, res),
            "measured_ms": latency.measure_ms(onnx_path, subnet, arch) if latency.measure_ms else None,
        }
        save_subnet(
            subnet, stage
        )  # model.safetensors + model.json: the timm model, reloadable without pickle
        files = ["model.onnx", "model.safetensors", "model.json", "arch.json"]
        int8_section = None
        if int8:
            from .quantize import quantize_int8

            int8_path = quantize_int8(onnx_path, stage / "model.int8.onnx", data.calib.images(res))
            set_metadata(int8_path, {**contract.onnx_metadata(), "arch": str(arch)})
            check_onnx(int8_path)
            int8_session = ort_session(int8_path, latency.threads)
            int8_section = {
                "file": "model.int8.onnx",
                "format": "QDQ, int8 per-channel weights, uint8 activations, MinMax calibration",
                "calibration_images": len(data.calib),
                "accuracy": _accuracies(int8_session, data, res),
                "measured_ms": latency.measure_ms(int8_path, None, arch) if latency.measure_ms else None,
            }
            files.append("model.int8.onnx")
        write_json(stage / "arch.json", arch.to_dict())
        card = build_card(
            arch=arch.to_dict(),
            arch_string=str(arch),
            space={"name": space.name, "fingerprint": space.fingerprint(), "definition": space.to_dict()},
            source=source or {},
            dataset=data.dataset,
            accuracy=fp32["accuracy"],
            bn_calibration={
                "images": len(data.calib),
                "split": "train",
                "method": "exact population statistics",
                "device": next(supernet.parameters()).device.type,
            },
            latency={
                "target": latency.target,
                "predicted": latency.predict_ms(arch) if latency.predict_ms else None,
                "unit": latency.unit,
                "measured_ms": (int8_section or {}).get("measured_ms")
                if latency.precision == "int8"
                else fp32["measured_ms"],
                "stat": latency.stat,
                "precision": latency.precision,
                "threads": latency.threads,
                "batch": 1,
                "table": latency.table or None,
            },
            macs=macs,
            params=params,
            verification={
                "onnx_checker": "passed",
                "parity_max_abs_diff": diff,
                "parity_atol": atol,
                "parity_images": len(parity_images),
                "exporter": "dynamo" if dynamo else "torchscript",
            },
            int8=int8_section,
            preprocessing=preprocessing(contract),
            files=file_entries(stage, files),
            **(extra or {}),
        )
        write_json(stage / "card.json", card)
    return card
