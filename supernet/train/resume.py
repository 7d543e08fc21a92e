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
        check_new_run_files(out)
        return
    if not pointer.is_file():
        raise CheckpointError(
            f"--resume: {out} holds no checkpoint ({POINTER} is missing); drop --resume to start "
            "a new run there, or give the run directory to continue"
        )
    saved = TrainConfig.from_dict(read_pointer(pointer)["config"], where=f"checkpoint {pointer}: config")
    refuse_conflicts(out, config, saved)


def refuse_conflicts(out: Path, given: TrainConfig, saved: TrainConfig) -> None:
    """CheckpointError listing every option of `given` that contradicts the run saved in `out`."""
    conflicts = resume_conflicts(given, saved)
    if conflicts:
        raise CheckpointError(
            f"--resume: options contradict the run in {out}: {'; '.join(conflicts)}; drop them "
            f"(a resumed run keeps its config; only {', '.join(RESUMABLE_CHANGES[1:])} may change)"
        )


# What a new run writes at its start, replacing a file of that name.
RUN_FILES = ("config.json", "metrics.jsonl")


def check_new_run_files(out: Path) -> None:
    """Refuse a new run in a folder whose config.json or metrics.jsonl it would replace, unless an earlier
    start of a run in this folder wrote them (a run killed before its first checkpoint starts again)."""
    there = [name for name in RUN_FILES if (out / name).exists()]
    if not there or _written_by_a_run(out):
        return
    raise CheckpointError(
        f"--out {out} holds {' and '.join(there)}, which no run started there wrote, and a new run would "
        f"replace {'it' if len(there) == 1 else 'them'}; choose another --out (an empty or new folder)"
    )


def _written_by_a_run(out: Path) -> bool:
    """Whether out/config.json is a run's own: a whole TrainConfig whose `out` names this folder (by name:
    a run restarted from another working directory may give it another relative path)."""
    from dataclasses import fields

    try:
        saved = json.loads((out / "config.json").read_text())
        whole = set(saved) >= {f.name for f in fields(TrainConfig)} - {"loader_workers"}
        named, here = Path(saved["out"]), out.resolve()
        return whole and (named.resolve() == here or named.name == here.name)
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        return False


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
