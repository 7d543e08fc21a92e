"""A full disk during a checkpoint write: one line naming the file and what survived, the previous
checkpoint stays complete and loadable, no temp or orphaned files, and --resume then continues
bit-identically (ENOSPC injected into the atomic writer, in-process)."""

import errno
import json
from pathlib import Path

import pytest
import torch

from supernet import files as files_module
from supernet.errors import OutputError
from supernet.train import checkpoint as checkpoint_module
from supernet.train.checkpoint import load_checkpoint
from supernet.train.config import TrainConfig
from supernet.train.trainer import Trainer
from tests.supernet.test_train_trainer import tiny_config


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as every test runs (conftest): bit-identical needs the same reductions
    trainer = Trainer(tiny_config(tmp_path_factory.mktemp("straight")))
    trainer.fit()
    torch.set_num_threads(threads)
    return trainer.model.state_dict()


@pytest.mark.parametrize("failing", ["weights-e0002", "state-e0002", "checkpoint.json"])
def test_disk_full_during_a_checkpoint_write_keeps_the_previous_one_and_resumes_exactly(
    tmp_path, monkeypatch, straight, failing
):
    real = checkpoint_module.atomic_write

    def full_disk(path, write):
        if Path(path).name.startswith(failing) and (failing != "checkpoint.json" or Path(path).exists()):

            def partial(tmp):
                Path(tmp).write_bytes(b"\0" * 1000)  # some bytes landed before the disk filled
                raise OSError(errno.ENOSPC, "No space left on device")

            return real(path, partial)
        return real(path, write)

    monkeypatch.setattr(checkpoint_module, "atomic_write", full_disk)
    monkeypatch.setattr(files_module, "atomic_write", full_disk)  # write_json (the pointer) uses this one
    config = tiny_config(tmp_path)
    with pytest.raises(OutputError) as info:
        Trainer(config).fit()
    message = str(info.value)
    assert failing in message and "the disk is full" in message
    assert "still points at the complete epoch-1 checkpoint" in message and "\n" not in message
    out = Path(config.out)
    assert load_checkpoint(out).epoch == 1
    assert not list(out.glob(".*.tmp")) and not (out / ".lock").exists()
    assert sorted(p.name for p in out.glob("*-e*")) == ["state-e0001.pt", "weights-e0001.safetensors"]

    monkeypatch.undo()  # space is back
    resumed = Trainer(TrainConfig(**{**config.to_dict(), "resume": True}))
    resumed.fit()
    for (name, a), b in zip(straight.items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if "loss" in r] == [1, 2]
    assert not list(out.glob(".*.tmp"))
