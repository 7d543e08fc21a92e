"""Train one elastic MobileNetV2 supernet, cut out many subnets.

Names are imported on first use, so `supernet --help` and the error classes load without torch.
"""

from importlib import import_module

_EXPORTS = {
    "ArchConfig": ".arch",
    "ArchError": ".errors",
    "CheckpointError": ".errors",
    "SpaceError": ".errors",
    "SupernetError": ".errors",
    "ElasticMobileNetV2": ".model",
    "SearchSpace": ".space",
    "StageSpace": ".space",
    "build_subnet": ".subnet",
    "extract_subnet": ".subnet",
    "Supernet": ".api",
    "Preprocessing": ".preprocess",
    "save_subnet": ".subnet_io",
    "load_subnet": ".subnet_io",
    "save_subnet_for_hf": ".subnet_io",
    "load_checkpoint": ".train.checkpoint",
    "recalibrate_bn": ".train.bn_calib",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'supernet' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value
