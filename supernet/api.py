"""`Supernet`: a trained run directory as a source of calibrated, ready-to-use timm subnets.

net = Supernet.from_run("runs/digits")
model = net.subnet("largest")        # a timm EfficientNet, BN recalibrated, pretrained_cfg set
save_subnet(model, "shipped/")       # model.safetensors + model.json, no pickle
model = load_subnet("shipped/")      # in any process
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .arch import ArchConfig


class Supernet:
    """The supernet of a training run, its search space and its preprocessing contract."""

    def __init__(self, checkpoint) -> None:
        self.checkpoint = checkpoint
        self.model = checkpoint.model
        self.space = checkpoint.space
        self.preprocessing = checkpoint.preprocessing
        self.model.preprocessing = self.preprocessing  # extract_subnet records it in pretrained_cfg
        self._calib = None

    @classmethod
    def from_run(cls, run: str | Path) -> Supernet:
        """Load the last checkpoint of a run directory (or its checkpoint.json), hashes checked."""
        from .train.checkpoint import load_checkpoint

        return cls(load_checkpoint(run))

    def arch(self, arch: str | ArchConfig) -> ArchConfig:
        """An arch of this space: an ArchConfig, 'smallest', 'largest', a named member, a file or a string."""
        from .named import resolve_arch

        if isinstance(arch, ArchConfig):
            return arch.validate(self.space)
        return resolve_arch(str(arch), self.space)

    def calibration_images(self, resolution: int) -> torch.Tensor:
        """The run's fixed BN-calibration images (training split, seeded), prepared for `resolution`."""
        if self._calib is None:
            from .train.data import load_data
            from .train.evalset import calibration_set

            cfg = self.checkpoint.config
            bundle = load_data(
                cfg.dataset,
                cfg.data_dir,
                seed=cfg.seed,
                val_fraction=cfg.val_fraction,
                augment=False,
                img_size=cfg.img_size or max(self.space.resolutions),
            )
            self._calib = calibration_set(bundle, cfg.calib_images, cfg.seed)
        return self._calib.images(resolution)

    def subnet(self, arch: str | ArchConfig, calibrate: bool | torch.Tensor = True) -> nn.Module:
        """A standalone timm model of `arch` in eval mode, its BN statistics recalibrated on the run's
        calibration images (or on the tensor given as `calibrate`; `False` keeps the supernet's)."""
        from .subnet import extract_subnet

        arch = self.arch(arch)
        if calibrate is True:
            images = self.calibration_images(arch.resolution)
        else:
            images = calibrate if isinstance(calibrate, torch.Tensor) else None
        subnet = extract_subnet(self.model, arch, calibrate=images, preprocessing=self.preprocessing)
        return subnet.eval()
