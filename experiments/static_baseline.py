"""The baseline the supernet must beat: timm's MobileNetV2 width family trained alone, same recipe.

The networks are stock `timm.models.EfficientNet`s from timm's own MobileNetV2 block strings and
channel rounding, adapted to small inputs the way `mbv2-small` is: the 24- and 160-channel stages keep
stride 1, so the total stride is 8 (32 px ends at 4x4). Training uses the supernet run's data, augmentation,
optimizer, LR schedule and label smoothing, for the same number of epochs.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import torch
from timm.loss import LabelSmoothingCrossEntropy
from timm.models import EfficientNet
from torch import nn
from torch.utils.data import DataLoader

from supernet._compat import decode_arch_def, round_channels
from supernet.files import atomic_write
from supernet.train.config import TrainConfig
from supernet.train.data import DataBundle
from supernet.train.evalset import EvalSet
from supernet.train.evaluate import accuracy
from supernet.train.optim import create_train_optimizer, create_train_scheduler
from supernet.train.resize import resize_to

SMALL_INPUT_MBV2 = [
    ["ds_r1_k3_s1_c16"],
    ["ir_r2_k3_s1_e6_c24"],  # s2 in ImageNet MobileNetV2
    ["ir_r3_k3_s2_e6_c32"],
    ["ir_r4_k3_s2_e6_c64"],
    ["ir_r3_k3_s1_e6_c96"],
    ["ir_r3_k3_s1_e6_c160"],  # s2 in ImageNet MobileNetV2
    ["ir_r1_k3_s1_e6_c320"],
]


def mobilenetv2_small_input(
    width: float, num_classes: int, in_chans: int, drop_rate: float = 0.0
) -> EfficientNet:
    """timm's `_gen_mobilenet_v2(channel_multiplier=width)` with the small-input strides."""
    round_chs_fn = partial(round_channels, multiplier=width)
    return EfficientNet(
        block_args=decode_arch_def(SMALL_INPUT_MBV2),
        num_classes=num_classes,
        num_features=max(1280, round_chs_fn(1280)),
        in_chans=in_chans,
        stem_size=32,
        round_chs_fn=round_chs_fn,
        act_layer=nn.ReLU6,
        drop_rate=drop_rate,
    )


def train_static(
    model: nn.Module,
    bundle: DataBundle,
    config: TrainConfig,
    resolution: int,
    log=print,
    state_path: Path | None = None,
) -> dict:
    """Train `model` alone with the supernet run's recipe; return test accuracy, images/s and per-epoch
    validation accuracy, wall time and process CPU time (all threads; wall time includes waiting on a busy
    machine, CPU time does not). With `state_path`, every epoch saves model, optimizer, step and RNG
    there (atomically) and a killed run resumes from the last finished epoch."""
    torch.manual_seed(config.seed)
    device = next(model.parameters()).device  # the caller places the model (CPU, or a GPU: see train_alone)
    loader = DataLoader(
        bundle.train,
        config.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=config.loader_workers,
        persistent_workers=config.loader_workers > 0,
        pin_memory=device.type == "cuda",
    )
    optimizer = create_train_optimizer(model, config)
    scheduler = create_train_scheduler(optimizer, config, len(loader))
    criterion = LabelSmoothingCrossEntropy(config.label_smoothing)
    # evaluation follows the run's preprocessing contract, as the supernet's validation and cards do
    val_x, val_y = EvalSet(bundle.val, bundle.preprocessing).at(resolution)
    step, images_seen, history = 0, 0, []
    if state_path is not None and Path(state_path).is_file():
        state = torch.load(state_path, weights_only=True, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"].cpu())
        step, images_seen, history = state["step"], state["images_seen"], state["history"]
        log(f"  resumed after epoch {len(history)} from {state_path}")
    for epoch in range(len(history), config.epochs):
        start, cpu_start = time.perf_counter(), time.process_time()
        model.train()
        for images, targets in loader:
            scheduler.step_update(step)
            images = images.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            loss = criterion(model(resize_to(images, resolution)), targets)
            loss.backward()
            if config.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step, images_seen = step + 1, images_seen + len(images)
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # the epoch's kernels have run before the clock is read
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        val = accuracy(model, val_x, val_y, config.eval_batch_size)
        history.append(
            {
                "epoch": epoch + 1,
                "val_acc": val,
                "epoch_time_s": elapsed,
                "cpu_time_s": cpu,
                "loss": loss.item(),
            }
        )
        log(
            f"  epoch {epoch + 1}/{config.epochs} loss {loss.item():.3f} val {100 * val:.2f}% {elapsed:.0f} s"
        )
        if state_path is not None:
            state = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "rng": torch.get_rng_state(),
                "step": step,
                "images_seen": images_seen,
                "history": history,
            }
            atomic_write(state_path, lambda tmp, state=state: torch.save(state, tmp))
    train_time = sum(h["epoch_time_s"] for h in history)
    test_x, test_y = EvalSet(bundle.test, bundle.preprocessing).at(resolution)
    return {
        "test_acc": accuracy(model, test_x, test_y, config.eval_batch_size),
        "images_per_s": images_seen / train_time if train_time else 0.0,
        "train_time_s": train_time,
        "epochs": history,
    }
