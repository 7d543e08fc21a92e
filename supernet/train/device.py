"""The torch device a run uses: `--device auto|cpu|cuda|cuda:N`, checked against this machine's GPUs."""

from __future__ import annotations

import torch

from .config import TrainConfigError


def resolve_device(name: str) -> torch.device:
    """auto: the first CUDA GPU if there is one, else the CPU; a CUDA index this machine lacks is refused."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= count:
            gpus = f", cuda:0..cuda:{count - 1}" if count else ""
            raise TrainConfigError(
                f"device {name}: this machine has {count} CUDA GPU(s); allowed: auto, cpu{gpus}"
            )
    return torch.device(name)
