"""The `fpga-int8` target as a `LatencyTable`: every layer of a space costed by `FpgaCostModel`, so search,
`latency show` and `predict_ms` treat the analytic FPGA model exactly like a measured device."""

from __future__ import annotations

import datetime

from supernet import SearchSpace

from .fpga import FpgaCostModel
from .fpga_config import FpgaConfig
from .layers import space_layers
from .table import Correction, LatencyTable

DEFAULT_FPGA_PRESET = "zcu102-b4096"


def fpga_table(
    space: SearchSpace, in_chans: int, num_classes: int, config: str = DEFAULT_FPGA_PRESET
) -> LatencyTable:
    """Analytic table (estimates, no measurement). The per-inference host overhead of the accelerator
    becomes the correction's offset; per-layer costs add exactly (the model has no cross-layer terms)."""
    model = FpgaCostModel(FpgaConfig.resolve(config))
    entries = {s.key: model.layer_cost(s).ms for s in space_layers(space, in_chans, num_classes)}
    metadata = {
        "device": model.config.device,
        "estimate": True,
        "fpga_config": model.config.to_dict(),
        "fpga_fingerprint": model.config.fingerprint(),
        "resources": model.resource_report().to_dict(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return LatencyTable(
        "fpga-int8", space, in_chans, num_classes, entries=entries,
        correction=Correction(offset_ms=model.overhead_ms), metadata=metadata, complete=True,
    )  # fmt: skip
