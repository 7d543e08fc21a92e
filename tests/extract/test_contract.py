"""The preprocessing contract, end to end, for every kind of data set: train one epoch, export, write the
test images as real files, decode them with PIL following only card.json, run the ONNX file with
onnxruntime, and get the project's own predictions on every image (hence the card's test accuracy)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from supernet import SearchSpace
from supernet_cli import main
from tests.fake_data import write_fashion_mnist

TINY = Path(__file__).parents[1] / "spaces" / "tiny.yaml"
PIL_INTERPOLATION = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}


def _images(n: int, size: tuple[int, int], chans: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable 8-bit images: a class-dependent bright square on noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    h, w = size
    x = rng.integers(0, 60, (n, h, w, chans), dtype=np.uint8)
    for i, y in enumerate(labels):
        top, left = (y // 5) * h // 2, (y % 5) * w // 5
        x[i, top : top + h // 2, left : left + max(1, w // 5)] = 200 + y * 5
    return x, labels


def _write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)


def _digits(root: Path) -> list[tuple[Path, int]]:
    """scikit-learn's digits test split (the project's fixed 20%) as PNG files of 8-bit pixels."""
    from sklearn.datasets import load_digits

    from supernet.train._bundle import split_indices

    digits = load_digits()
    _, test_idx = split_indices(len(digits.target), 0.2, 12345)
    files = []
    for i in test_idx:
        path = root / "files" / f"{i}.png"
        _write_png(path, np.round(digits.images[i] * 255 / 16).astype(np.uint8)[..., None])
        files.append((path, int(digits.target[i])))
    return files


def _fashion_mnist(root: Path) -> list[tuple[Path, int]]:
    (train_x, train_y), (test_x, test_y) = _images(320, (28, 28), 1, 1), _images(40, (28, 28), 1, 2)
    write_fashion_mnist(root / "data", (train_x[..., 0], train_y), (test_x[..., 0], test_y))
    files = []
    for i, (x, y) in enumerate(zip(test_x, test_y)):
        _write_png(root / "files" / f"{i}.png", x)
        files.append((root / "files" / f"{i}.png", int(y)))
    return files


def _cifar10(root: Path) -> list[tuple[Path, int]]:
    data = root / "data" / "cifar-10-batches-py"
    data.mkdir(parents=True)
    names = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    for k in range(1, 6):
        x, y = _images(64, (32, 32), 3, k)
        batch = {"data": x.transpose(0, 3, 1, 2).reshape(len(x), -1), "labels": y.tolist()}
        (data / f"data_batch_{k}").write_bytes(pickle.dumps(batch))
    test_x, test_y = _images(40, (32, 32), 3, 9)
    test = {"data": test_x.transpose(0, 3, 1, 2).reshape(len(test_x), -1), "labels": test_y.tolist()}
    (data / "test_batch").write_bytes(pickle.dumps(test))
    (data / "batches.meta").write_bytes(pickle.dumps({"label_names": [n.encode() for n in names]}))
    files = []
    for i, (x, y) in enumerate(zip(test_x, test_y)):
        _write_png(root / "files" / f"{i}.png", x)
        files.append((root / "files" / f"{i}.png", int(y)))
    return files


def _imagefolder(root: Path) -> list[tuple[Path, int]]:
    """Class folders of PNGs of different, non-square sizes (the resize and the crop both matter)."""
    classes = [f"class_{c}" for c in "abcdefghij"]
    files = []
    for split, n, seed in (("train", 200, 3), ("val", 40, 4)):
        for size, part in (((20, 26), 0), ((31, 22), 1)):
            x, y = _images(n // 2, size, 3, seed + 10 * part)
            for i, (img, label) in enumerate(zip(x, y)):
                path = root / "data" / split / classes[label] / f"{part}-{i}.png"
                _write_png(path, img)
                if split == "val":
                    files.append((path, None))
    return files


KINDS = {
    "digits": (_digits, []),
    "fashion-mnist": (_fashion_mnist, ["--data", "{root}/data"]),
    "cifar10": (_cifar10, ["--data", "{root}/data"]),
    "imagefolder": (_imagefolder, ["--data", "{root}/data"]),
}


def _follow_card(path: Path, pre: dict) -> np.ndarray:
    """An image file -> model input, using nothing but the card's preprocessing section."""
    img = Image.open(path).convert(pre["channel_order"])
    w, h = img.size
    short = pre["resize_shorter_side_to"]
    size = (short, int(short * h / w)) if w <= h else (int(short * w / h), short)
    img = img.resize(size, PIL_INTERPOLATION[pre["interpolation"]])
    ch, cw = pre["center_crop"]
    top, left = int(round((img.size[1] - ch) / 2.0)), int(round((img.size[0] - cw) / 2.0))
    img = img.crop((left, top, left + cw, top + ch))
    x = np.asarray(img, dtype=np.float32).reshape(ch, cw, -1) / np.float32(1 / pre["scale"])
    x = (x - np.asarray(pre["mean"], np.float32)) / np.asarray(pre["std"], np.float32)
    return x.transpose(2, 0, 1)[None]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_card_alone_reproduces_the_evaluation(kind, tmp_path, capsys):
    make, data_args = KINDS[kind]
    files = make(tmp_path)
    run, ship = tmp_path / "run", tmp_path / "ship"
    extra = [a.format(root=tmp_path) for a in data_args]
    argv = ["train", "--space", str(TINY), "--dataset", kind, *extra, "--epochs", "1", "--batch-size", "32",
            "--calib-images", "64", "--eval-batch-size", "64", "-q", "--out", str(run)]  # fmt: skip
    assert main(argv) == 0
    arch = SearchSpace.load(TINY).smallest()
    assert main(["export", "--checkpoint", str(run), "--arch", str(arch), "--out", str(ship), "-q"]) == 0
    card = json.loads((ship / "card.json").read_text())
    pre = card["preprocessing"]
    assert pre["input_size"] == [pre["input_size"][0], arch.resolution, arch.resolution]
    labels = pre["label_names"]
    if kind == "imagefolder":  # labels come from the folder names, in the card's index order
        files = sorted((p, labels.index(p.parent.name)) for p, _ in files)  # ImageFolder's order
        assert labels == sorted(labels) and len(labels) == 10 and pre["crop_pct"] == 0.875
    if kind == "cifar10":
        assert labels[:2] == ["plane", "car"]  # read from batches.meta
    session = ort.InferenceSession(str(ship / "model.onnx"), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["preprocessing"])["label_names"] == labels
    x = np.concatenate([_follow_card(p, pre) for p, _ in files])
    from_files = session.run(None, {pre["input_name"]: x})[0].argmax(1)

    # the project's own evaluation of the same split (what the card's accuracy was computed on)
    from extract.pipeline import load_eval_data
    from supernet.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(run)
    data = load_eval_data(ckpt.config, ckpt.space, num_calib=2)
    images, truth = data.test.at(arch.resolution)
    own = session.run(None, {pre["input_name"]: images.numpy()})[0].argmax(1)
    assert len(files) == len(truth) == card["accuracy"]["test_images"]
    assert [y for _, y in files] == truth.tolist()
    assert from_files.tolist() == own.tolist()  # the same prediction on every image
    assert float((from_files == truth.numpy()).mean()) == card["accuracy"]["test"]


def test_export_refuses_data_that_no_longer_matches_the_saved_contract(tmp_path, capsys):
    """An image folder whose class folders changed since training would be decoded with other labels: the
    card would describe a transform the model was never evaluated with, so export refuses in one line."""
    _imagefolder(tmp_path)
    run, ship = tmp_path / "run", tmp_path / "ship"
    argv = ["train", "--space", str(TINY), "--dataset", "imagefolder", "--data", str(tmp_path / "data"),
            "--epochs", "1", "--batch-size", "32", "--calib-images", "64", "-q", "--out", str(run)]  # fmt: skip
    assert main(argv) == 0
    for split in ("train", "val"):
        first = sorted((tmp_path / "data" / split).iterdir())[0]
        first.rename(first.with_name("zz_renamed"))
    capsys.readouterr()
    arch = str(SearchSpace.load(TINY).smallest())
    assert main(["export", "--checkpoint", str(run), "--arch", arch, "--out", str(ship), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no longer matches the checkpoint's preprocessing" in err
    assert "label_names" in err and "zz_renamed" in err
    assert not (ship / "model.onnx").exists()
