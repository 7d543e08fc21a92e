"""Save and load an extracted subnet without pickle: `model.safetensors` + `model.json`.

`model.json` holds what rebuilds the network with timm alone: the block strings (timm's `arch_def`
notation) and `EfficientNet` constructor arguments, the `pretrained_cfg` (preprocessing, class names),
the arch and the SHA-256 of the weights. `load_subnet(folder)` rebuilds the model in any process and
loads the weights strictly. `save_subnet_for_hf` writes timm's Hugging Face layout all at once or not at
all.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from torch import nn

from .errors import SupernetError
from .files import atomic_write, atomic_write_text

FORMAT = "supernet-subnet/1"
WEIGHTS, CONFIG = "model.safetensors", "model.json"


class SubnetFileError(SupernetError):
    """A saved subnet that is missing, incomplete or does not match its weights."""


def subnet_config(model: nn.Module) -> dict:
    args = getattr(model, "subnet_args", None)
    if not args or not args.get("act_layer"):
        raise SubnetFileError(
            "this model has no subnet_args with a named activation; save models that extract_subnet, "
            "build_subnet or load_subnet made"
        )
    cfg = dict(getattr(model, "pretrained_cfg", None) or {})
    return {"format": FORMAT, "model_args": args, "pretrained_cfg": cfg, "weights": WEIGHTS}


def save_subnet(model: nn.Module, folder: str | Path) -> Path:
    """Write `model.safetensors` and then `model.json` (each atomically) into `folder`; returns the JSON path."""
    from safetensors.torch import save_file

    from .train.checkpoint import sha256_file

    config = subnet_config(model)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    weights = atomic_write(out / WEIGHTS, lambda tmp: save_file(tensors, tmp, metadata={"format": FORMAT}))
    config["weights_sha256"] = sha256_file(weights)
    return atomic_write_text(out / CONFIG, json.dumps(config, indent=2) + "\n")


def load_subnet(path: str | Path) -> nn.Module:
    """The timm model saved by `save_subnet` (a folder or its `model.json`), in eval mode, weights checked."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .jsonfile import read_json
    from .subnet import build_from_args
    from .train.checkpoint import sha256_file

    p = Path(path)
    config_path = p / CONFIG if p.is_dir() else p
    config = read_json(config_path, "saved subnet", SubnetFileError)
    if config.get("format") != FORMAT:
        raise SubnetFileError(f"{config_path} is not a saved subnet (expected format {FORMAT})")
    weights = config_path.parent / str(config.get("weights", WEIGHTS))
    if not weights.is_file():
        raise SubnetFileError(f"saved subnet {config_path}: weights file {weights} is missing")
    if sha256_file(weights) != config.get("weights_sha256"):
        raise SubnetFileError(f"weights {weights} do not match the SHA-256 in {config_path}; it is corrupt")
    try:
        model = build_from_args(config["model_args"])
        model.load_state_dict(load_file(weights), strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError, SafetensorError) as e:
        raise SubnetFileError(f"saved subnet {config_path} cannot be rebuilt ({str(e).splitlines()[0]})")
    model.subnet_args = config["model_args"]
    model.pretrained_cfg = config.get("pretrained_cfg") or {}
    model.default_cfg = model.pretrained_cfg
    return model.eval()


def save_subnet_for_hf(model: nn.Module, folder: str | Path) -> Path:
    """timm's `save_for_hf` (safetensors) into `folder`, which must not exist: written in a staging folder
    and renamed into place, so a failure leaves nothing behind (SubnetFileError names the cause)."""
    from timm.models import save_for_hf

    out = Path(folder)
    if out.exists():
        raise SubnetFileError(f"{out} already exists; give a new folder for the Hugging Face files")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-"))
    try:
        save_for_hf(model, str(stage), safe_serialization=True)
        stage.rename(out)
    except Exception as e:
        raise SubnetFileError(f"timm's save_for_hf cannot save this model ({e.__class__.__name__}: {e})")
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out
