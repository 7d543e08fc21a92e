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
    name = config.get("weights", WEIGHTS)
    if not isinstance(name, str) or Path(name).name != name:
        raise SubnetFileError(f"saved subnet {config_path}: weights {name!r} must be a file name beside it")
    weights = config_path.parent / name
    if not weights.is_file():
        raise SubnetFileError(f"saved subnet {config_path}: weights file {weights} is missing")
    if sha256_file(weights) != config.get("weights_sha256"):
        raise SubnetFileError(f"weights {weights} do not match the SHA-256 in {config_path}; it is corrupt")
    args = config.get("model_args")
    try:
        _check_args(args, f"saved subnet {config_path}: model_args")
        model = build_from_args(args)
        model.load_state_dict(load_file(weights), strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError, SafetensorError, AssertionError, IndexError) as e:
        text = str(e).splitlines()[0] if str(e) else type(e).__name__  # timm's decoder asserts
        raise SubnetFileError(f"saved subnet {config_path} cannot be rebuilt ({text})")
    model.subnet_args = args
    model.pretrained_cfg = _checked_cfg(config.get("pretrained_cfg", {}), args, f"saved subnet {config_path}")
    model.default_cfg = model.pretrained_cfg
    return model.eval()


def _check_args(args, where: str) -> None:
    """What timm's constructor would take silently (a drop rate of 1.5, fix_stem 'x'); the rest is checked
    by building the model and loading the weights strictly."""
    from .checks import check_float

    if not isinstance(args, dict):
        raise SubnetFileError(f"{where} must be an object, got {args!r}")
    check_float(f"{where} drop_rate", args.get("drop_rate"), lo=0, hi=1, hi_open=True, error=SubnetFileError)
    if not isinstance(args.get("fix_stem"), bool):
        raise SubnetFileError(f"{where} fix_stem must be true or false, got {args.get('fix_stem')!r}")


def _checked_cfg(cfg, args: dict, where: str) -> dict:
    """The saved `pretrained_cfg` (what timm's data config and users read): empty for a model saved without
    a contract, else one that parses as a `Preprocessing` for this model's channels and classes."""
    from .preprocess import Preprocessing, PreprocessingError

    if not isinstance(cfg, dict):
        raise SubnetFileError(f"{where}: pretrained_cfg must be an object, got {cfg!r}")
    if not cfg:
        return cfg
    try:
        contract = Preprocessing.from_pretrained_cfg(cfg)
    except PreprocessingError as e:
        raise SubnetFileError(f"{where}: {e}") from None
    shape = (cfg.get("num_classes"), contract.num_classes, contract.in_chans)
    if shape != (args["num_classes"], args["num_classes"], args["in_chans"]):
        raise SubnetFileError(
            f"{where}: pretrained_cfg describes {shape[1]} class names, num_classes {shape[0]!r} and "
            f"{shape[2]} input channels; the model has {args['num_classes']} classes and {args['in_chans']}"
        )
    for key in ("architecture", "first_conv", "classifier"):
        if not isinstance(cfg.get(key, ""), str):
            raise SubnetFileError(f"{where}: pretrained_cfg {key} must be a string, got {cfg[key]!r}")
    return cfg


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
