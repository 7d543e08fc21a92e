"""Static int8 quantisation of an exported subnet: QDQ format, per-channel weights, calibrated on
training images (never validation or test images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


class _Images:
    """onnxruntime's CalibrationDataReader protocol over a tensor of (already resized, normalised) images."""

    def __init__(self, images: torch.Tensor, input_name: str, batch_size: int) -> None:
        x = images.float().numpy()
        self._batches = iter([{input_name: x[i : i + batch_size]} for i in range(0, len(x), batch_size)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def quantize_int8(
    fp32_path: str | Path, int8_path: str | Path, calib_images: torch.Tensor, batch_size: int = 64
) -> Path:
    """Write a static int8 QDQ model of `fp32_path` (uint8 activations, int8 per-channel weights, MinMax
    calibration). The fp32 graph is first pre-processed (shape inference, constant folding, BN fusion)
    as onnxruntime recommends, so Conv+BN quantise as one op."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from .onnx_io import INPUT_NAME

    int8_path = Path(int8_path)
    pre = int8_path.with_name(int8_path.stem + ".pre.onnx")
    try:
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=False)
        quantize_static(
            str(pre),
            str(int8_path),
            _Images(calib_images, INPUT_NAME, batch_size),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    finally:
        pre.unlink(missing_ok=True)
    return int8_path
