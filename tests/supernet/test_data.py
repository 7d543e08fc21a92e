"""Data sets: fixed splits, normalised tensors, seeded calibration subset, clear errors for missing data."""

from pathlib import Path

import numpy as np
import pytest
import torch

from supernet import SupernetError
from supernet.train.data import FASHION_MNIST_DIR, calibration_images, load_data, stack
from tests.fake_data import write_fashion_mnist


def test_digits_splits_are_disjoint_fixed_and_seeded():
    a = load_data("digits", seed=0, val_fraction=0.1)
    b = load_data("digits", seed=0, val_fraction=0.1)
    c = load_data("digits", seed=1, val_fraction=0.1)
    assert (a.in_chans, a.num_classes, a.img_size) == (1, 10, 8)
    assert len(a.train) + len(a.val) + len(a.test) == 1797 and len(a.test) == round(1797 * 0.2)
    assert a.val.indices == b.val.indices != c.val.indices
    assert len(c.test) == len(a.test) and torch.equal(stack(a.test)[0], stack(c.test)[0])  # test never moves
    train_set = {a.calib_source.images[i].numpy().tobytes() for i in range(len(a.train))}
    val_x, _ = stack(a.val)
    assert not any(((x * 0.5 + 0.5).numpy().astype(np.float32).tobytes() in train_set) for x in val_x[:20])
    x, y = a.train[0]
    assert x.dtype == torch.float32 and x.shape == (1, 8, 8) and isinstance(y, int)
    assert -1.0 <= x.min() and x.max() <= 1.0  # (pixel - 0.5) / 0.5


def test_augmentation_only_on_the_train_split():
    bundle = load_data("digits")
    torch.manual_seed(0)
    train_views = [bundle.train[3][0] for _ in range(8)]
    assert any(not torch.equal(train_views[0], v) for v in train_views)
    assert torch.equal(bundle.val[3][0], bundle.val[3][0]) and torch.equal(
        bundle.test[3][0], bundle.test[3][0]
    )
    assert not load_data("digits", augment=False).train.augment


def test_calibration_images_are_a_fixed_seeded_subset_of_the_train_split():
    bundle = load_data("synthetic", img_size=16)
    a, b, c = (calibration_images(bundle, 50, seed=s) for s in (0, 0, 1))
    assert a.shape == (50, 3, 16, 16) and torch.equal(a, b) and not torch.equal(a, c)
    train_x, _ = stack(bundle.calib_source)
    assert all((train_x == img).flatten(1).all(1).any() for img in a[:10])
    assert len(calibration_images(bundle, 10**6)) == len(bundle.train)  # capped at the split


def test_fashion_mnist_reader_on_small_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    train_x, test_x = rng.integers(0, 256, (50, 28, 28)), rng.integers(0, 256, (10, 28, 28))
    write_fashion_mnist(tmp_path, (train_x, np.arange(50) % 10), (test_x, np.arange(10) % 10))
    bundle = load_data("fashion-mnist", data_dir=str(tmp_path), val_fraction=0.2)
    assert (len(bundle.train), len(bundle.val), len(bundle.test), bundle.img_size) == (40, 10, 10, 28)
    x, y = bundle.test[3]
    torch.testing.assert_close(x[0] * 0.3530 + 0.2860, torch.from_numpy(test_x[3] / 255).float())
    assert y == 3


@pytest.mark.skipif(
    not Path(FASHION_MNIST_DIR).is_dir(), reason="Debian's dataset-fashion-mnist is not installed"
)
def test_installed_fashion_mnist_has_the_official_sizes():
    bundle = load_data("fashion-mnist", val_fraction=0.1)
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (54000, 6000, 10000)


def test_missing_data_says_where_it_looked_and_how_to_get_it(tmp_path):
    with pytest.raises(
        SupernetError, match=f"not found in {tmp_path}.*apt-get install dataset-fashion-mnist"
    ):
        load_data("fashion-mnist", data_dir=str(tmp_path))
    with pytest.raises(SupernetError, match="CIFAR-10 not found.*--data"):
        load_data("cifar10", data_dir=str(tmp_path))
    with pytest.raises(SupernetError, match="imagefolder data not found.*train/ and val/"):
        load_data("imagefolder", data_dir=str(tmp_path))
    with pytest.raises(SupernetError, match="allowed: digits"):
        load_data("mnist")


def test_cifar10_reader_on_small_batches_and_refuses_code_in_pickles(tmp_path):
    import pickle

    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (4, 3072)).astype(np.uint8), "labels": [0, 1, 2, 3]}
        (root / name).write_bytes(pickle.dumps(batch))
    bundle = load_data("cifar10", data_dir=str(tmp_path), val_fraction=0.25)
    assert (len(bundle.train), len(bundle.val), len(bundle.test), bundle.in_chans, bundle.img_size) == (
        15,
        5,
        4,
        3,
        32,
    )

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (root / "test_batch").write_bytes(pickle.dumps({"data": Evil(), "labels": []}))
    with pytest.raises(SupernetError, match="disallowed object builtins.print"):
        load_data("cifar10", data_dir=str(tmp_path))


def _png_bytes(value: int) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((12, 12), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    "content, why",
    [
        (b"not an image", "not an image format PIL recognises"),
        (_png_bytes(7)[:50], "image file is truncated"),  # cut inside its pixel data: the header reads
        (b"", "not an image format PIL recognises"),
    ],
)
def test_an_image_file_that_does_not_decode_is_a_data_error_naming_it(tmp_path, content, why):
    from supernet.train.decode import load_rgb

    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    good.write_bytes(_png_bytes(7))
    bad.write_bytes(content)
    image = load_rgb(str(good))
    assert image.mode == "RGB" and image.size == (12, 12) and image.getpixel((0, 0)) == (7, 7, 7)
    with pytest.raises(SupernetError, match=f"cannot decode image {bad} .*{why}") as e:
        load_rgb(str(bad))
    assert "allowed: an image file PIL reads" in str(e.value)


def test_a_corrupt_image_in_a_loader_worker_is_one_line_naming_the_file(tmp_path, capsys):
    from supernet_cli import main

    for split in ("train", "val"):
        for c in range(2):
            (tmp_path / "data" / split / f"c{c}").mkdir(parents=True)
            for i in range(12):
                (tmp_path / "data" / split / f"c{c}" / f"{i}.png").write_bytes(_png_bytes(50 * c + i))
    bad = tmp_path / "data" / "train" / "c1" / "5.png"
    bad.write_bytes(b"GIF89a broken")
    space = Path(__file__).parents[1] / "spaces" / "tiny.yaml"
    argv = ["train", "--space", str(space), "--dataset", "imagefolder", "--data", str(tmp_path / "data"),
            "--img-size", "16", "--epochs", "1", "--batch-size", "4", "--calib-images", "4", "--nproc", "1",
            "--loader-workers", "1", "--val-fraction", "0.2", "--out", str(tmp_path / "run"), "-q"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    assert err[-1] == (
        f"supernet train: error: cannot decode image {bad} (not an image format PIL recognises); "
        "allowed: an image file PIL reads (JPEG, PNG, ...): replace or remove it"
    )


def _tree(root: Path, splits: dict[str, list[str]]) -> Path:
    for split, classes in splits.items():
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for i in range(3):
                (root / split / c / f"{i}.png").write_bytes(_png_bytes(len(c) * 10 + i))
    return root


def test_imagefolder_val_labels_follow_the_train_classes(tmp_path):
    """A val/ without one of train/'s classes keeps train/'s class indices (ImageFolder would renumber it:
    val's dog would become class 0, train's cat); a val/ class train/ lacks, or one class, is refused."""
    root = _tree(tmp_path / "a", {"train": ["ant", "cat", "dog"], "val": ["ant", "dog"]})
    bundle = load_data("imagefolder", str(root), img_size=16)
    test = bundle.test
    assert test.classes == ["ant", "cat", "dog"] and bundle.num_classes == 3
    assert sorted(set(test.targets)) == [0, 2]
    assert all(Path(path).parent.name == test.classes[label] for path, label in test.samples)
    assert test[len(test) - 1][1] == 2  # a dog image, through the dataset's own __getitem__
    for splits, words in (
        ({"train": ["cat", "dog"], "val": ["cat", "cow", "dog"]}, "has class folders that"),
        ({"train": ["cat"], "val": ["cat"]}, "has 1 class folder(s); a classifier needs at least 2"),
    ):
        with pytest.raises(SupernetError, match=words.replace("(", r"\(").replace(")", r"\)")):
            load_data("imagefolder", str(_tree(tmp_path / str(len(splits["val"])), splits)), img_size=16)
