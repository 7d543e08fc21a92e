"""The preprocessing contract: validation, round trips, timm's names, and checkpoints from before it."""

from __future__ import annotations

import pytest

from supernet.errors import CheckpointError
from supernet.preprocess import Preprocessing, PreprocessingError
from supernet.train.config import TrainConfig
from supernet.train.contract import FASHION_MNIST_LABELS, checkpoint_preprocessing, image_folder


def test_round_trips_and_maps_onto_timm_pretrained_cfg():
    p = image_folder(32, ["cat", "dog"])
    assert Preprocessing.from_dict(p.to_dict()) == p
    cfg = p.at(24).pretrained_cfg()
    assert (
        cfg["input_size"] == (3, 24, 24) and cfg["crop_pct"] == 0.875 and cfg["label_names"] == ["cat", "dog"]
    )
    assert Preprocessing.from_pretrained_cfg(cfg) == p.at(24)
    card = p.at(24).card()
    assert card["resize_shorter_side_to"] == 27 and card["center_crop"] == [24, 24]
    assert all(not isinstance(v, str) or k in ("format", "channel_order", "interpolation", "crop_mode", "layout", "dtype")
               for k, v in card.items())  # fmt: skip


@pytest.mark.parametrize(
    "change, words",
    [
        ({"input_size": (3, 24, 20)}, "must be square"),
        ({"mean": (0.5,)}, "mean and std need 3 values"),
        ({"std": (0.2, 0.0, 0.2)}, "std must be finite and > 0"),
        ({"interpolation": "lanczos"}, "interpolation must be one of"),
        ({"crop_pct": 1.5}, "crop_pct must be in (0, 1]"),
        ({"scale": 1.0}, "scale must be 1/255"),
        ({"channel_order": "L"}, "3 channels need channel_order 'RGB'"),
        ({"label_names": ()}, "label_names must name every class"),
        # wrong types are named, not converted (int("x") was a ValueError traceback; a string of names split)
        ({"input_size": "x"}, "input_size must be a list of integers, got 'x'"),
        ({"input_size": [3, 32.5, 32]}, "input_size must be a list of integers"),
        ({"mean": "x"}, "mean must be a list of numbers"),
        ({"std": [0.2, True, 0.2]}, "std must be a list of numbers"),
        ({"label_names": "abc"}, "label_names must be a list of strings, got 'abc'"),
        ({"label_names": [1, 2]}, "label_names must be a list of strings"),
        ({"crop_pct": "x"}, "crop_pct must be a number"),
        ({"crop_pct": True}, "crop_pct must be a number"),
        ({"scale": None}, "scale must be a number"),
        ({"interpolation": 3}, "interpolation must be a string"),
    ],
)
def test_bad_contracts_are_refused(change, words):
    fields = {**image_folder(32, ["a"]).to_dict(), **change}
    with pytest.raises(PreprocessingError, match=words.replace("(", r"\(").replace(")", r"\)")):
        Preprocessing.from_dict(fields)


@pytest.mark.parametrize(
    "saved", [None, "x", [], {}, {"format": "other"}, {**image_folder(32, ["a"]).to_dict(), "mean": "x"}]
)
def test_a_saved_contract_that_is_unreadable_is_refused_not_replaced(saved):
    """Only a checkpoint without the field (from before it was saved) gets the contract its data implies."""
    with pytest.raises(CheckpointError, match="checkpoint x: .*preprocessing"):
        checkpoint_preprocessing(
            {"preprocessing": saved}, TrainConfig(dataset="fashion-mnist"), "checkpoint x"
        )


def test_old_checkpoints_get_the_contract_their_data_implies(tmp_path):
    p = checkpoint_preprocessing({}, TrainConfig(dataset="fashion-mnist"), "checkpoint x")
    assert p.input_size == (1, 28, 28) and p.label_names == FASHION_MNIST_LABELS and p.mean == (0.2860,)
    (tmp_path / "train" / "b").mkdir(parents=True)
    (tmp_path / "train" / "a").mkdir()
    p = checkpoint_preprocessing(
        {}, TrainConfig(dataset="imagefolder", data_dir=str(tmp_path)), "checkpoint x"
    )
    assert p.label_names == ("a", "b") and p.interpolation == "bicubic"
    config = TrainConfig(dataset="imagefolder", data_dir=str(tmp_path / "gone"))
    with pytest.raises(
        CheckpointError, match="predates saved preprocessing and its class names cannot be read"
    ):
        checkpoint_preprocessing({}, config, "checkpoint x")
