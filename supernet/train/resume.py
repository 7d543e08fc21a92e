"""Continuing a run: what `--resume` may change, the training state saved with every checkpoint and restored
from it, and metrics.jsonl repaired after a kill (the `Trainer`'s state across runs)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import CheckpointError
from ..files import append_line, atomic_write_text
from .checkpoint import POINTER, Checkpoint, read_pointer
from .config import TrainConfig
from .guard import CollapseGuard, weight_norm

# Options a resumed run may change: they do not alter what is computed (or, for epochs, only how long).
RESUMABLE_CHANGES = (
    "resume",
    "epochs",
    "progress",
    "loader_workers",
    "device",
    "out",
    "data_dir",
    "eval_batch_size",
)


def resume_conflicts(given: TrainConfig, saved: TrainConfig) -> list[str]:
    """'name (given X, run used Y)' for each option of `given` that contradicts the saved run's config."""
    old, new = saved.to_dict(), given.to_dict()
    return [
        f"{k} (given {new[k]!r}, run used {old[k]!r})"
        for k in old
        if k not in RESUMABLE_CHANGES and new[k] != old[k]
    ]


def check_resume(out: Path, config: TrainConfig) -> None:
    """Refuse a new run over a checkpoint, a --resume without one, or one whose options contradict it."""
    pointer = out / POINTER
    if not config.resume:
        if pointer.is_file():
            raise CheckpointError(
                f"{out} already holds a checkpoint; pass --resume to continue it or choose another --out"
            )
        return
    if not pointer.is_file():
        raise CheckpointError(
            f"--resume: {out} holds no checkpoint ({POINTER} is missing); drop --resume to start "
            "a new run there, or give the run directory to continue"
        )
    saved = TrainConfig.from_dict(read_pointer(pointer)["config"], where=f"checkpoint {pointer}: config")
    conflicts = resume_conflicts(config, saved)
    if conflicts:
        raise CheckpointError(
            f"--resume: options contradict the run in {out}: {'; '.join(conflicts)}; drop them "
            f"(a resumed run keeps its config; only {', '.join(RESUMABLE_CHANGES[1:])} may change)"
        )


def train_state(
    *, optimizer, scheduler, scaler, guard: CollapseGuard, initial_norm: float, rollbacks: int
) -> dict:
    """What a checkpoint holds besides the weights, for an exact resume."""
    return {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "guard": guard.state_dict(),
        "initial_weight_norm": initial_norm,
        "rollbacks": rollbacks,
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _check_optimizer_shapes(optimizer: torch.optim.Optimizer) -> None:
    """torch only notices a mis-shaped optimizer buffer at the next step: check them all on load."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if torch.is_tensor(value) and value.dim() > 0 and value.shape != param.shape:
                    raise ValueError(
                        f"optimizer {key} of shape {tuple(value.shape)} for a parameter of {tuple(param.shape)}"
                    )


def restore_train_state(
    ckpt: Checkpoint, *, device, model, optimizer, scheduler, scaler, guard: CollapseGuard
) -> dict:
    """Load `ckpt`'s weights and training state into these objects; returns its rollbacks, initial weight
    norm and RNG states. A state that does not fit is one CheckpointError naming the file."""
    try:
        model.load_state_dict(ckpt.model.state_dict())
        state = ckpt.train_state(map_location=device)
        optimizer.load_state_dict(state["optimizer"])
        _check_optimizer_shapes(optimizer)
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        guard.load_state_dict(state["guard"])
        return {
            "rollbacks": int(state["rollbacks"]),
            "initial_norm": float(state.get("initial_weight_norm", weight_norm(model))),
            "torch_rng": state["torch_rng"],
            "cuda_rng": state["cuda_rng"],
        }
    except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as e:
        what = (
            f"lacks {e}" if isinstance(e, KeyError) else f"does not fit this run ({str(e).splitlines()[0]})"
        )
        raise CheckpointError(f"training state {ckpt.state_path} {what}; it is corrupt or from another run")


def repair_metrics(path: Path, epoch: int, record: dict | None) -> None:
    """Drop a torn last line of a killed write; restore the checkpoint's epoch line if the kill came
    between the checkpoint and the metrics write."""
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        atomic_write_text(path, text)
    logged = set()
    for line in text.splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if isinstance(r, dict) and "loss" in r:
            logged.add(r.get("epoch"))
    if record is not None and epoch not in logged:
        append_line(path, json.dumps(record))
