"""Loader benchmark: decoded images/s per DataLoader worker vs the images/s training consumes.

Decoding: the image-folder training transform (timm's `create_transform`, as `supernet train --dataset
imagefolder` builds it) over a generated ImageFolder of JPEGs, with `-j` 0 (in the training process) and
1..N worker processes. Training: the sandwich step (4 subnets, batch 64) of the chosen space on
pre-decoded batches at the same image size, 1 torch thread. If one worker decodes fewer images/s than a
step consumes, training at that image size needs more than one loader worker per training process.

    python experiments/bench_loader.py --images 3000 --img-size 32 --workers 0 1 2 --out experiments/results/loader.md
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from supernet.files import atomic_write_text  # noqa: E402
from supernet.train.augment import Augmentation  # noqa: E402
from supernet.train.loader import make_loader  # noqa: E402


def make_folder(root: Path, n: int, src_size: int) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(10):
        (root / "train" / f"c{c}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pixels = rng.integers(0, 255, (src_size, src_size, 3), np.uint8)
        Image.fromarray(pixels).save(root / "train" / f"c{i % 10}" / f"{i:06d}.jpg", quality=90)
    return root


def decode_rate(folder: Path, img_size: int, workers: int, batch: int) -> float:
    from torchvision.datasets import ImageFolder

    tf = Augmentation().train_transform(img_size, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    loader = make_loader(ImageFolder(str(folder / "train"), transform=tf), batch, workers, persistent=False)
    it = iter(loader)
    next(it)  # start-up (worker processes) is not decoding
    seen, start = 0, time.perf_counter()
    for images, _ in it:
        seen += len(images)
    return seen / (time.perf_counter() - start)


def train_rate(space_name: str, img_size: int, batch: int, steps: int) -> float:
    from supernet import ElasticMobileNetV2, SearchSpace
    from supernet.train.config import TrainConfig
    from supernet.train.optim import create_train_optimizer
    from supernet.train.sandwich import sandwich_backward, step_archs

    space = SearchSpace.resolve(space_name)
    model = ElasticMobileNetV2(space, num_classes=10, in_chans=3).to(memory_format=torch.channels_last)
    opt = create_train_optimizer(model, TrainConfig(space=space_name))
    x = torch.randn(batch, 3, img_size, img_size).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))
    times = []
    for step in range(steps + 1):
        start = time.perf_counter()
        archs = step_archs(space, seed=0, step=step, num_random=2, sandwich=True)
        sandwich_backward(model, x, y, archs, label_smoothing=0.1, inplace_distill=True)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return batch / float(np.median(times[1:]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=3000)
    p.add_argument("--src-size", type=int, default=64, help="side of the generated JPEGs")
    p.add_argument("--img-size", type=int, default=32, help="training crop size")
    p.add_argument("--space", default="mbv2-small")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_folder(Path(tmp), args.images, args.src_size)
        rates = {w: decode_rate(folder, args.img_size, w, args.batch) for w in args.workers}
    train = train_rate(args.space, args.img_size, args.batch, args.steps)
    lines = [
        "# Loader throughput vs training throughput",
        "",
        f"Command: `{shlex.join(['python', *sys.argv])}`",
        "",
        f"{args.images} generated {args.src_size}px JPEGs, timm's training transform at {args.img_size}px "
        f"(RandomResizedCrop, flip, colour jitter, normalise), batch {args.batch}; training: the {args.space} "
        f"sandwich step (4 subnets) on pre-decoded {args.img_size}px batches, 1 torch thread.",
        "",
        "| loader workers (-j) | decoded images/s | per worker |",
        "|---:|---:|---:|",
    ]
    for w, r in rates.items():
        lines.append(f"| {w} | {r:.0f} | {r / max(w, 1):.0f} |")
    lines += ["", f"Training consumes {train:.0f} images/s (median of {args.steps} steps)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        atomic_write_text(args.out, text)


if __name__ == "__main__":
    main()
