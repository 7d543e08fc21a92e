"""Image-folder augmentation in timm's names and defaults: parsed, validated, applied, recorded."""

import json

import numpy as np
import pytest
import torch

from supernet.train.augment import Augmentation
from supernet.train.config import TrainConfig, TrainConfigError
from supernet.train.data import load_data
from supernet_cli import build_parser, main


def _folder(root):
    from PIL import Image

    for split in ("train", "val"):
        for c in range(2):
            (root / split / f"c{c}").mkdir(parents=True)
            for i in range(4):
                Image.fromarray(np.full((12, 12, 3), 100 * c, np.uint8)).save(
                    root / split / f"c{c}" / f"{i}.jpg"
                )
    return root


def _ops(transform) -> dict:
    return {type(t).__name__: t for t in transform.transforms}


def test_defaults_are_timms():
    from timm.data import create_transform

    ours, timm = (
        _ops(Augmentation().train_transform(32, (0.5,) * 3, (0.5,) * 3)),
        _ops(create_transform(32, True)),
    )
    crop, timm_crop = ours["RandomResizedCropAndInterpolation"], timm["RandomResizedCropAndInterpolation"]
    assert (crop.scale, crop.ratio) == (timm_crop.scale, timm_crop.ratio) == ((0.08, 1.0), (3 / 4, 4 / 3))
    assert ours["RandomHorizontalFlip"].p == timm["RandomHorizontalFlip"].p == 0.5
    assert ours["ColorJitter"].brightness == timm["ColorJitter"].brightness


def test_cli_options_reach_the_transform_and_the_run_config(tmp_path):
    argv = ["train", "--dataset", "imagefolder", "--data", str(_folder(tmp_path)), "--img-size", "16",
            "--scale", "0.5", "1", "--ratio", "0.8", "1.25", "--hflip", "0", "--color-jitter", "0.1",
            "--aa", "rand-m9-mstd0.5", "--interpolation", "bilinear"]  # fmt: skip
    given = {
        k[len("train_") :]: v
        for k, v in vars(build_parser().parse_args(argv)).items()
        if k.startswith("train_")
    }
    config = TrainConfig.from_dict(given)
    assert TrainConfig.from_dict(json.loads(config.to_json())) == config  # what config.json records
    assert json.loads(config.to_json())["scale"] == [0.5, 1.0] and config.aa == "rand-m9-mstd0.5"

    bundle = load_data(
        "imagefolder", config.data_dir, img_size=16, augmentation=Augmentation.from_config(config)
    )
    ops = _ops(bundle.train.dataset.transform)
    crop = ops["RandomResizedCropAndInterpolation"]
    assert (crop.scale, crop.ratio) == ((0.5, 1.0), (0.8, 1.25))
    assert "RandAugment" in ops and "ColorJitter" not in ops and "RandomHorizontalFlip" not in ops
    assert bundle.preprocessing.interpolation == "bilinear"  # the evaluation contract follows --interpolation
    assert bundle.val.dataset.transform is not bundle.train.dataset.transform
    assert load_data("imagefolder", config.data_dir, img_size=16).preprocessing.interpolation == "bicubic"


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--dataset", "imagefolder", "--hflip", "1.5"], "--hflip is a probability in [0, 1], got 1.5"),
        (["--dataset", "imagefolder", "--scale", "0.5", "2"], "--scale needs 0 < MIN <= MAX <= 1"),
        (["--dataset", "imagefolder", "--aa", "bogus"], "--aa 'bogus' is not a timm auto-augment policy"),
        (["--dataset", "imagefolder", "--interpolation", "lanczos"], "allowed: bilinear, bicubic, nearest"),
        (
            ["--dataset", "digits", "--color-jitter", "0.1"],
            "--color-jitter applies to --dataset imagefolder only",
        ),
        (["--data", "/tmp"], "--data applies to --dataset fashion-mnist, cifar10 or imagefolder; digits is"),
        (
            ["--dataset", "fashion-mnist", "--img-size", "32"],
            "--img-size applies to --dataset imagefolder or",
        ),
        (
            ["--dataset", "imagefolder", "--no-augment", "--scale", "0.5", "1"],
            "--scale is a training augmentation and --no-augment turns augmentation off",
        ),
    ],
)
def test_bad_augmentation_is_one_line_and_exit_2(argv, words, capsys, tmp_path):
    assert main(["train", "--out", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err


def test_config_refuses_a_bad_pair():
    with pytest.raises(TrainConfigError, match="--ratio needs 0 < MIN <= MAX"):
        TrainConfig(dataset="imagefolder", ratio=(2.0, 1.0)).validate()


def test_no_augment_trains_on_the_evaluation_transform(tmp_path):
    """--no-augment: training images go through exactly what the model card describes (the evaluation
    transform, bicubic unless --interpolation), not timm's default evaluation transform; --interpolation
    still sets both."""
    from PIL import Image

    root = _folder(tmp_path)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (23, 17, 3), np.uint8)).save(
        root / "train" / "c0" / "noise.png"
    )
    for interpolation in (None, "bilinear"):
        bundle = load_data(
            "imagefolder", str(root), img_size=16, augment=False,
            augmentation=Augmentation(interpolation=interpolation),
        )  # fmt: skip
        train, evaluation = bundle.train.dataset.transform, bundle.preprocessing.eval_transform()
        image = Image.open(root / "train" / "c0" / "noise.png").convert("RGB")
        assert torch.equal(train(image), evaluation(image))
    TrainConfig(dataset="imagefolder", augment=False, interpolation="bilinear").validate()
