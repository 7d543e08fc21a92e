"""Checkpoints: safetensors weights + JSON description + training state, written atomically.

A checkpoint in run directory `out/` is three files. `checkpoint.json` is written last and names the
other two, so a run killed mid-save still points at a complete previous checkpoint:

- `weights-eNNNN.safetensors`: the supernet's state dict (weights and BN buffers);
- `state-eNNNN.pt`: optimizer, scheduler, scaler and RNG state, tensors and plain containers only
  (loaded with `torch.load(weights_only=True)`);
- `checkpoint.json`: format, space, model args, training config, epoch, step, metadata and the SHA-256
  of both files (checked on load).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import CheckpointError
from ..files import atomic_write
from ..model import ElasticMobileNetV2
from ..space import SearchSpace
from .config import TrainConfig

FORMAT = "supernet-checkpoint/1"
POINTER = "checkpoint.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_args(model: ElasticMobileNetV2) -> dict:
    return {
        "num_classes": model.num_classes,
        "in_chans": model.in_chans,
        "drop_rate": model.drop_rate,
        "drop_path_rate": model.drop_path_rate,
        "kernel_transform": model.kernel_transform,
    }


def save_checkpoint(
    out_dir: str | Path,
    model: ElasticMobileNetV2,
    config: TrainConfig,
    epoch: int,
    step: int,
    train_state: dict | None = None,
    meta: dict | None = None,
) -> Path:
    """Save after `epoch` epochs (`step` optimizer steps); returns the path of `checkpoint.json`.

    `train_state` (optimizer/scheduler/RNG state) must hold only tensors and plain containers.
    `meta` is free-form JSON (e.g. data set facts and preprocessing for the model card).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"weights-e{epoch:04d}.safetensors"
    state = out / f"state-e{epoch:04d}.pt"
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(weights, lambda tmp: save_file(tensors, tmp, metadata={"format": FORMAT}))
    atomic_write(state, lambda tmp: torch.save(train_state or {}, tmp))
    desc = {
        "format": FORMAT,
        "epoch": epoch,
        "step": step,
        "weights": weights.name,
        "weights_sha256": sha256_file(weights),
        "state": state.name,
        "state_sha256": sha256_file(state),
        "space": model.space.to_dict(),
        "space_fingerprint": model.space.fingerprint(),
        "model": model_args(model),
        "config": config.to_dict(),
        "meta": meta or {},
    }
    pointer = out / POINTER
    previous = _read_json(pointer) if pointer.is_file() else None
    atomic_write(pointer, lambda tmp: Path(tmp).write_text(json.dumps(desc, indent=2)))
    if previous:  # the old pair is now unreferenced
        for name in (previous.get("weights"), previous.get("state")):
            if name and name not in (weights.name, state.name):
                (out / name).unlink(missing_ok=True)
    return pointer


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(
            f"checkpoint {path} is unreadable or corrupt ({e.__class__.__name__}); "
            "resume from another run directory or retrain"
        )
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a supernet checkpoint (expected format {FORMAT})")
    return data


@dataclass
class Checkpoint:
    """A loaded checkpoint. `model` is on CPU in eval mode; its BN statistics are the training ones
    (recalibrate per subnet before use)."""

    path: Path
    model: ElasticMobileNetV2
    config: TrainConfig
    space: SearchSpace
    epoch: int
    step: int
    sha256: str
    meta: dict = field(default_factory=dict)
    state_path: Path | None = None

    def train_state(self, map_location: str | torch.device = "cpu") -> dict:
        """Optimizer/scheduler/RNG state, loaded safely (`weights_only=True`)."""
        try:
            return torch.load(self.state_path, map_location=map_location, weights_only=True)
        except Exception as e:  # any failure here means a corrupt file
            raise CheckpointError(f"training state {self.state_path} is unreadable ({e.__class__.__name__})")


def load_checkpoint(path: str | Path, space: SearchSpace | None = None) -> Checkpoint:
    """Load a run directory's (or a `checkpoint.json`'s) checkpoint, verifying file hashes.

    With `space`, a checkpoint trained on a different space (by fingerprint) is a CheckpointError.
    """
    p = Path(path)
    pointer = p / POINTER if p.is_dir() else p
    if not pointer.is_file():
        raise CheckpointError(
            f"no checkpoint at {p} (expected a run directory holding {POINTER}, or that file)"
        )
    desc = _read_json(pointer)
    root = pointer.parent
    try:
        weights, state = root / desc["weights"], root / desc["state"]
        ckpt_space = SearchSpace.from_dict(desc["space"])
        config = TrainConfig.from_dict(desc["config"])
        args = desc["model"]
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint {pointer} lacks field {e}; it is corrupt")
    if space is not None and space.fingerprint() != ckpt_space.fingerprint():
        raise CheckpointError(
            f"checkpoint {pointer} was trained on space {ckpt_space.name} ({ckpt_space.fingerprint()}), "
            f"not {space.name} ({space.fingerprint()}); use the same space or another run directory"
        )
    for f, key in ((weights, "weights_sha256"), (state, "state_sha256")):
        if not f.is_file():
            raise CheckpointError(f"checkpoint file {f} is missing; the run directory is incomplete")
        if sha256_file(f) != desc[key]:
            raise CheckpointError(f"checkpoint file {f} does not match its recorded SHA-256; it is corrupt")
    model = ElasticMobileNetV2(ckpt_space, **args)
    try:
        model.load_state_dict(load_file(weights))
    except (SafetensorError, RuntimeError) as e:
        raise CheckpointError(f"weights {weights} do not fit the recorded model ({str(e).splitlines()[0]})")
    return Checkpoint(
        path=pointer,
        model=model.eval(),
        config=config,
        space=ckpt_space,
        epoch=int(desc["epoch"]),
        step=int(desc["step"]),
        sha256=desc["weights_sha256"],
        meta=desc.get("meta", {}),
        state_path=state,
    )
