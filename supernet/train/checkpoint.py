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

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..checks import check_float, check_int
from ..errors import CheckpointError, OutputError
from ..files import atomic_write, remove_temp_files, sha256_file, write_json
from ..jsonfile import check_fields, read_json
from ..model import ElasticMobileNetV2
from ..space import SearchSpace
from .config import TrainConfig

FORMAT = "supernet-checkpoint/1"
POINTER = "checkpoint.json"
_EPOCH_FILE = re.compile(r"^(weights-e\d{4,}\.safetensors|state-e\d{4,}\.pt)$")
_SCHEMA = {
    "format": str,
    "epoch": int,
    "step": int,
    "weights": str,
    "weights_sha256": str,
    "state": str,
    "state_sha256": str,
    "space": dict,
    "space_fingerprint": str,
    "model": dict,
    "config": dict,
    "meta": dict,
    "metrics": dict | None,
}
_MODEL_SCHEMA = {
    "num_classes": int,
    "in_chans": int,
    "drop_rate": float,
    "drop_path_rate": float,
    "kernel_transform": bool,
    "act_layer": str,
}


def model_args(model: ElasticMobileNetV2) -> dict:
    return {
        "num_classes": model.num_classes,
        "in_chans": model.in_chans,
        "drop_rate": model.drop_rate,
        "drop_path_rate": model.drop_path_rate,
        "kernel_transform": model.kernel_transform,
        "act_layer": model.act_name,
    }


def non_finite_count(tensors: dict[str, torch.Tensor]) -> tuple[int, int]:
    """(non-finite values, all values) over the floating-point tensors of a state dict."""
    bad = total = 0
    for t in tensors.values():
        if t.is_floating_point():
            bad += int((~torch.isfinite(t)).sum())
            total += t.numel()
    return bad, total


def save_checkpoint(
    out_dir: str | Path,
    model: ElasticMobileNetV2,
    config: TrainConfig,
    *,
    epoch: int,
    step: int,
    train_state: dict | None = None,
    meta: dict | None = None,
    metrics: dict | None = None,
) -> Path:
    """Save after `epoch` epochs (`step` optimizer steps); returns the path of `checkpoint.json`.

    `train_state` (optimizer/scheduler/RNG state) must hold only tensors and plain containers.
    `meta` is free-form JSON (e.g. data set facts and preprocessing for the model card); `metrics` is the
    epoch's metrics line, kept so a kill between this save and the metrics write loses nothing.
    Non-finite weights are never saved (CheckpointError); a failed write (e.g. a full disk) is an
    OutputError naming the file, and the previous checkpoint stays complete and referenced.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"weights-e{epoch:04d}.safetensors"
    state = out / f"state-e{epoch:04d}.pt"
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    bad, total = non_finite_count(tensors)
    if bad:
        raise CheckpointError(
            f"refusing to save epoch {epoch} (step {step}): {bad} of {total} weights are NaN or infinite; "
            f"the previous checkpoint in {out} is kept"
        )
    pointer = out / POINTER
    previous = _read_pointer(pointer) if pointer.is_file() else None
    try:
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
            "metrics": metrics,
        }
        write_json(pointer, desc)
    except OutputError as e:
        kept = {previous.get("weights"), previous.get("state")} if previous else set()
        for f in (weights, state):
            if f.name not in kept:
                f.unlink(missing_ok=True)
        survived = (
            f"checkpoint.json still points at the complete epoch-{previous['epoch']} checkpoint"
            if previous
            else "no checkpoint was saved"
        )
        where = getattr(e, "path", out)
        raise OutputError(
            f"cannot write {where}: {getattr(e, 'reason', e)}; {survived}; free space, then --resume"
        )
    if previous:  # the old pair is now unreferenced
        for name in (previous.get("weights"), previous.get("state")):
            if name and name not in (weights.name, state.name):
                (out / name).unlink(missing_ok=True)
    return pointer


def clean_run_dir(out_dir: str | Path) -> list[Path]:
    """Remove what a killed or disk-full save leaves: temp files, and epoch files the pointer does not name."""
    out = Path(out_dir)
    removed = remove_temp_files(out)
    pointer = out / POINTER
    if not out.is_dir():
        return removed
    keep = set()
    if pointer.is_file():
        desc = _read_pointer(pointer)
        keep = {desc["weights"], desc["state"]}
    for f in out.iterdir():
        if _EPOCH_FILE.match(f.name) and f.name not in keep and f.is_file():
            f.unlink(missing_ok=True)
            removed.append(f)
    return removed


def _read_pointer(path: Path) -> dict:
    data = read_json(path, "checkpoint", CheckpointError)
    if data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a supernet checkpoint (expected format {FORMAT})")
    data.setdefault("metrics", None)  # checkpoints from before the metrics copy
    check_fields(data, _SCHEMA, f"checkpoint {path}", CheckpointError)
    for key in ("weights", "state"):
        if Path(data[key]).name != data[key]:
            raise CheckpointError(
                f"checkpoint {path}: {key} {data[key]!r} must be a file name in the run directory"
            )
    return data


def read_pointer(path: str | Path) -> dict:
    """The validated `checkpoint.json` of a run directory (or that file)."""
    p = Path(path)
    return _read_pointer(p / POINTER if p.is_dir() else p)


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
    metrics: dict | None = None

    def train_state(self, map_location: str | torch.device = "cpu") -> dict:
        """Optimizer/scheduler/RNG state, loaded safely (`weights_only=True`)."""
        try:
            state = torch.load(self.state_path, map_location=map_location, weights_only=True)
        except Exception as e:  # any failure here means a corrupt file
            raise CheckpointError(f"training state {self.state_path} is unreadable ({e.__class__.__name__})")
        if not isinstance(state, dict):
            raise CheckpointError(f"training state {self.state_path} is not a dictionary; it is corrupt")
        return state

    @property
    def preprocessing(self):
        """The run's preprocessing contract (saved since it existed; derived from the config before)."""
        from .contract import checkpoint_preprocessing

        return checkpoint_preprocessing(self.meta, self.config, f"checkpoint {self.path}")


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
    desc = _read_pointer(pointer)
    root = pointer.parent
    weights, state = root / desc["weights"], root / desc["state"]
    ckpt_space = SearchSpace.from_dict(desc["space"])
    if ckpt_space.fingerprint() != desc["space_fingerprint"]:
        raise CheckpointError(
            f"checkpoint {pointer}: its space does not match its recorded fingerprint (edited or corrupt)"
        )
    config = TrainConfig.from_dict(desc["config"], where=f"checkpoint {pointer}: config")
    args = dict(desc["model"])
    args.setdefault("act_layer", "relu6")  # checkpoints from before the activation was stored
    check_fields(args, _MODEL_SCHEMA, f"checkpoint {pointer}: model", CheckpointError)
    where = f"checkpoint {pointer}: model"
    check_int(f"{where} num_classes", args["num_classes"], lo=1, hi=1 << 20, error=CheckpointError)
    check_int(f"{where} in_chans", args["in_chans"], lo=1, hi=1024, error=CheckpointError)
    for key in ("drop_rate", "drop_path_rate"):
        check_float(f"{where} {key}", args[key], lo=0, hi=1, hi_open=True, error=CheckpointError)
    for key in ("epoch", "step"):
        check_int(f"checkpoint {pointer}: {key}", desc[key], lo=0, error=CheckpointError)
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
    try:
        model = ElasticMobileNetV2(ckpt_space, **args)
    except (ValueError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"checkpoint {pointer}: model arguments {args} are invalid ({e})")
    try:
        model.load_state_dict(load_file(weights))
    except (SafetensorError, RuntimeError) as e:
        raise CheckpointError(f"weights {weights} do not fit the recorded model ({str(e).splitlines()[0]})")
    return Checkpoint(
        path=pointer,
        model=model.eval(),
        config=config,
        space=ckpt_space,
        epoch=desc["epoch"],
        step=desc["step"],
        sha256=desc["weights_sha256"],
        meta=desc["meta"],
        state_path=state,
        metrics=desc["metrics"],
    )
