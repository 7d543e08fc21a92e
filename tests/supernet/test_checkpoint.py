"""Checkpoints round-trip exactly and refuse corrupt files or the wrong search space with one clear error."""

import json
from pathlib import Path

import pytest
import torch
import yaml

from supernet import CheckpointError, ElasticMobileNetV2, SearchSpace, SupernetError
from supernet.train.checkpoint import load_checkpoint, save_checkpoint
from supernet.train.config import TrainConfig

TINY = (Path(__file__).parents[1] / "spaces" / "tiny-1stage.yaml").read_text()


def saved(tmp_path, epoch=3):
    torch.manual_seed(0)
    model = ElasticMobileNetV2(
        SearchSpace.from_dict(yaml.safe_load(TINY)), num_classes=4, in_chans=1, drop_rate=0.2
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 1, 16, 16)).sum().backward()
    opt.step()
    state = {"optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state(), "n": 5}
    save_checkpoint(
        tmp_path, model, TrainConfig(epochs=9), epoch=epoch, step=42, train_state=state, meta={"dataset": "x"}
    )
    return model, state


def test_round_trip_restores_weights_buffers_config_and_state(tmp_path):
    model, saved_state = saved(tmp_path)
    ckpt = load_checkpoint(tmp_path)
    assert (ckpt.epoch, ckpt.step, ckpt.config.epochs, ckpt.meta) == (3, 42, 9, {"dataset": "x"})
    assert ckpt.space == model.space and len(ckpt.sha256) == 64 and ckpt.model.drop_rate == 0.2
    for (n, a), (_, b) in zip(model.state_dict().items(), ckpt.model.state_dict().items()):
        assert torch.equal(a, b), n
    state = ckpt.train_state()
    assert state["n"] == 5 and torch.equal(state["torch_rng"], saved_state["torch_rng"])
    opt2 = torch.optim.SGD(ckpt.model.parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(state["optimizer"])
    assert load_checkpoint(tmp_path / "checkpoint.json").sha256 == ckpt.sha256


def test_a_newer_checkpoint_replaces_the_old_files(tmp_path):
    saved(tmp_path, epoch=1)
    saved(tmp_path, epoch=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint.json",
        "state-e0002.pt",
        "weights-e0002.safetensors",
    ]
    assert load_checkpoint(tmp_path).epoch == 2


def test_corrupt_weights_are_refused(tmp_path):
    saved(tmp_path)
    weights = tmp_path / "weights-e0003.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(tmp_path)


def test_truncated_description_and_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path)
    saved(tmp_path)
    (tmp_path / "state-e0003.pt").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path)
    pointer = tmp_path / "checkpoint.json"
    pointer.write_text(pointer.read_text()[:100])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path)
    pointer.write_text(json.dumps({"hello": 1}))
    with pytest.raises(CheckpointError, match="not a supernet checkpoint"):
        load_checkpoint(tmp_path)


def test_wrong_space_names_both_fingerprints(tmp_path):
    model, _ = saved(tmp_path)
    other = SearchSpace.preset("mbv2-small")
    with pytest.raises(CheckpointError, match=f"{model.space.fingerprint()}.*{other.fingerprint()}"):
        load_checkpoint(tmp_path, space=other)
    assert load_checkpoint(tmp_path, space=model.space).epoch == 3


def test_the_training_state_is_loaded_without_unpickling_code(tmp_path):
    saved(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    ckpt = load_checkpoint(tmp_path)
    ckpt.state_path = tmp_path / "evil.pt"
    with pytest.raises(CheckpointError, match="unreadable"):
        ckpt.train_state()


@pytest.mark.parametrize(
    "edit, words",
    [
        (
            lambda d: d["space"]["stages"][0].update(kernel_sizes=[5]),
            "does not match its recorded fingerprint",
        ),
        (
            lambda d: d["model"].update(drop_rate=1.5),
            r"model drop_rate must be in \[0, 1\) and finite, got 1.5",
        ),
        (lambda d: d["model"].update(drop_path_rate=-0.1), "model drop_path_rate must be in"),
        (
            lambda d: d["config"].update(scale=[]),
            r"config: scale is the list \[\]; allowed: a list of 2 finite numbers",
        ),
    ],
)
def test_an_edited_description_is_refused_in_one_line(tmp_path, edit, words):
    """Fields whose edit the weights' SHA-256 does not catch: the space (a narrower one still loads
    weights), training-only model arguments and the recorded config."""
    saved(tmp_path)
    pointer = tmp_path / "checkpoint.json"
    data = json.loads(pointer.read_text())
    edit(data)
    pointer.write_text(json.dumps(data))
    with pytest.raises(SupernetError, match=words):  # CheckpointError, TrainConfigError for the config
        load_checkpoint(tmp_path)
