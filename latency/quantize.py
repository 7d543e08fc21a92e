"""Static int8 quantisation of an exported graph: QDQ format, per-channel int8 weights, uint8 activations,
MinMax calibration. `supernet extract --int8` ships graphs made here and the `ort-cpu-int8` target and the
int8 kit time graphs made here, so an int8 table measures the graph that ships."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from supernet.files import atomic_write

from .onnx import INPUT_NAME

INT8_FORMAT = "QDQ, int8 per-channel weights, uint8 activations, MinMax calibration"


class _Images:
    """onnxruntime's CalibrationDataReader protocol over an array of (already resized, normalised) images."""

    def __init__(self, images, input_name: str, batch_size: int) -> None:
        x = images.float().numpy() if hasattr(images, "numpy") and hasattr(images, "float") else images
        x = np.asarray(x, dtype=np.float32)
        self._batches = iter([{input_name: x[i : i + batch_size]} for i in range(0, len(x), batch_size)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def quantize_int8(fp32_path: str | Path, int8_path: str | Path, calib_images, batch_size: int = 64) -> Path:
    """Write a static int8 QDQ model of `fp32_path`, calibrated on `calib_images` (a tensor or array
    shaped like the input). The fp32 graph is first pre-processed (shape inference, constant folding, BN
    fusion) as onnxruntime recommends, so Conv+BN quantise as one op."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    int8_path = Path(int8_path)
    with tempfile.TemporaryDirectory() as scratch:  # the pre-processed graph is an intermediate, never output
        pre = Path(scratch) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=False)
        return atomic_write(
            int8_path,
            lambda tmp: quantize_static(
                str(pre),
                tmp,
                _Images(calib_images, INPUT_NAME, batch_size),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            ),
        )


def random_calibration(shape: tuple[int, ...], count: int = 8, seed: int = 0) -> np.ndarray:
    """Calibration inputs for timing only: the QDQ graph (and so its latency) does not depend on the
    values, only the scales do."""
    return np.random.default_rng(seed).standard_normal((count, *shape[1:]), dtype=np.float32)
