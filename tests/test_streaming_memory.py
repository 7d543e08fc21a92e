"""Peak memory of `supernet train` and `supernet extract` does not grow with the data set (streaming data).

A generated ImageFolder of small JPEGs (made once per test session) is trained on for one epoch and
extracted from at two sizes, each command in its own process; the peak RSS of the larger run may exceed
the smaller one's only by a fixed bound. Before streaming, the validation and test splits were stacked
whole into float tensors: at 20k images that grew train by about 220 MB and extract by about 190 MB.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "spaces" / "tiny.yaml"


def _make_folder(root: Path, n_train: int, n_val: int, source: Path | None = None) -> Path:
    """`train/` and `val/` trees of 16x16 JPEGs in 10 classes (hard links to `source`'s files if given)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        for c in range(10):
            (root / split / f"c{c}").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            path = root / split / f"c{i % 10}" / f"{i:06d}.jpg"
            if source is not None:
                os.link(source / path.relative_to(root), path)
                continue
            pixels = np.full((16, 16, 3), 25 * (i % 10), np.uint8) + rng.integers(
                0, 40, (16, 16, 3), np.uint8
            )
            Image.fromarray(pixels).save(path, quality=90)
    return root


@pytest.fixture(scope="session")
def folders(tmp_path_factory):
    """`folders(big, small)`: image folders of (train, val) sizes, made once per session; `small` is a
    subset of `big` (hard links to the same files)."""
    base, made = tmp_path_factory.mktemp("imagefolders"), {}

    def make(big: tuple[int, int], small: tuple[int, int]) -> tuple[Path, Path]:
        if big not in made:
            made[big] = _make_folder(base / f"{big[0]}-{big[1]}", *big)
        key = (big, small)
        if key not in made:
            made[key] = _make_folder(
                base / f"{big[0]}-{big[1]}-{small[0]}-{small[1]}", *small, source=made[big]
            )
        return made[key], made[big]

    return make


@pytest.fixture(scope="session")
def lut(tmp_path_factory) -> Path:
    from latency.build import count_table
    from supernet import SearchSpace

    path = tmp_path_factory.mktemp("lut") / "macs.json"
    count_table(SearchSpace.load(TINY), "macs", 3, 10).save(path)
    return path


def _peak_rss_mb(argv: list[str]) -> float:
    """Run `supernet ARGV` in a fresh process; its peak resident memory in MiB (from wait4)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "supernet_cli", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert os.waitstatus_to_exitcode(status) == 0, stderr
    return usage.ru_maxrss / 1024


def _train_and_extract(
    folder: Path, out: Path, lut: Path, img_size: int, eval_batch: int
) -> tuple[float, float]:
    run = out / "run"
    train = _peak_rss_mb(
        ["train", "--space", str(TINY), "--dataset", "imagefolder", "--data", str(folder),
         "--img-size", str(img_size), "--epochs", "1", "--batch-size", "64", "--num-random", "1",
         "--calib-images", "64", "--eval-batch-size", str(eval_batch), "--out", str(run), "--quiet"]
    )  # fmt: skip
    extract = _peak_rss_mb(
        ["extract", "--checkpoint", str(run), "--lut", str(lut), "--budget", "1000", "--unit", "mmacs", "--evals", "2",
         "--calib-images", "64", "--search-calib-images", "64", "--out", str(out / "deploy"), "--quiet"]
    )  # fmt: skip
    return train, extract


def _check(small: tuple[float, float], large: tuple[float, float], bound_mb: float) -> None:
    for command, a, b in zip(("train", "extract"), small, large):
        assert b - a < bound_mb, (
            f"supernet {command}: peak RSS {a:.0f} MiB -> {b:.0f} MiB on the larger data set"
        )


def test_peak_memory_does_not_grow_with_the_data_set_fast(folders, lut, tmp_path):
    """750 vs 3k images at 96 px (stacking would add ~140 MB), evaluation batches of 50."""
    small_folder, large_folder = folders((2_400, 600), (600, 150))
    small = _train_and_extract(small_folder, tmp_path / "small", lut, 96, 50)
    large = _train_and_extract(large_folder, tmp_path / "large", lut, 96, 50)
    _check(small, large, bound_mb=25)


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_data_set_20k_images(folders, lut, tmp_path):
    """5.5k vs 24k images at 48 px (stacking would add ~200 MB), the default evaluation batch of 500."""
    small_folder, large_folder = folders((20_000, 4_000), (5_000, 500))
    small = _train_and_extract(small_folder, tmp_path / "small", lut, 48, 500)
    large = _train_and_extract(large_folder, tmp_path / "large", lut, 48, 500)
    _check(small, large, bound_mb=30)
