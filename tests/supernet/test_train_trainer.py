"""The Trainer end to end on a tiny space: exact resume, collapse guard, zero-gamma, metrics."""

import itertools
import json
import math
from pathlib import Path

import pytest
import torch

from supernet import CheckpointError
from supernet.train.checkpoint import load_checkpoint
from supernet.train.config import TrainConfig
from supernet.train.optim import create_train_scheduler
from supernet.train.trainer import Trainer

TINY = (Path(__file__).parents[1] / "spaces" / "tiny.yaml").read_text()


def tiny_config(tmp_path: Path, name: str = "run", **kw) -> TrainConfig:
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY)
    base = dict(space=str(space), dataset="synthetic", img_size=16, epochs=2, batch_size=48, warmup_epochs=1,
                drop_rate=0.2, calib_images=48, calib_batch_size=48, out=str(tmp_path / name), progress=False)  # fmt: skip
    return TrainConfig(**{**base, **kw})


class Killed(Exception):
    pass


def test_a_run_killed_after_an_epoch_and_resumed_ends_with_the_same_weights(tmp_path):
    straight = Trainer(tiny_config(tmp_path, "straight"))
    straight.fit()

    def kill(metrics):
        raise Killed

    config = tiny_config(tmp_path, "killed")
    with pytest.raises(Killed):
        Trainer(config, on_epoch_end=kill).fit()
    assert load_checkpoint(config.out).epoch == 1
    resumed = Trainer(TrainConfig(**{**config.to_dict(), "resume": True}))
    assert (resumed.epoch, resumed.step) == (1, 6)  # 288 train images / 48
    resumed.fit()
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert load_checkpoint(config.out).sha256 == load_checkpoint(straight.config.out).sha256

    records = [json.loads(line) for line in Path(config.out, "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if "epoch" in r and "loss" in r]
    assert [r["epoch"] for r in epochs] == [1, 2]
    for key in (
        "loss",
        "loss_largest",
        "loss_smallest",
        "lr",
        "images_per_s",
        "val_acc_smallest",
        "val_acc_largest",
    ):
        assert all(math.isfinite(r[key]) for r in epochs), key
    assert records[-1]["final"] and 0 <= records[-1]["test_acc_largest"] <= 1


def test_an_existing_run_is_not_overwritten_without_resume(tmp_path):
    config = tiny_config(tmp_path, epochs=1)
    Trainer(config).fit()
    with pytest.raises(CheckpointError, match="--resume"):
        Trainer(config)
    other = tiny_config(tmp_path, epochs=1, resume=True, space="mbv2-small")
    with pytest.raises(CheckpointError, match="space"):
        Trainer(other)


def test_zero_gamma_holds_at_init(tmp_path):
    blocks = Trainer(tiny_config(tmp_path, "a")).model.elastic_blocks()
    residual = [b for b in blocks if b.always_residual]
    assert residual and all(torch.all(b.bn3.weight == 0) for b in residual)
    assert all(torch.all(b.bn3.weight != 0) for b in blocks if not b.always_residual)
    off = Trainer(tiny_config(tmp_path, "b", zero_gamma=False)).model.elastic_blocks()
    assert all(torch.all(b.bn3.weight != 0) for b in off)


def test_non_finite_steps_are_skipped_then_rolled_back_with_a_lower_lr(tmp_path):
    trainer = Trainer(tiny_config(tmp_path, max_skips=2, lr=0.1))
    images, targets = next(iter(trainer.loader))
    trainer.train_step(images, targets)  # one good step moves the weights
    moved = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    poisoned = torch.full_like(images, float("nan"))

    out = trainer.train_step(poisoned, targets)
    assert out["skipped"] and not math.isfinite(out["loss"])
    for k, v in trainer.model.state_dict().items():
        if "running" not in k and "num_batches" not in k:  # BN buffers see the NaN batch; weights must not
            assert torch.equal(v, moved[k]), k
    assert trainer.scheduler.lr_scale == 1.0

    trainer.train_step(poisoned, targets)  # the second skip since the snapshot: roll back
    assert trainer.scheduler.lr_scale == 0.5 and trainer.rollbacks == 1
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(v, trainer._saved["model"][k]), k  # back at the initial snapshot, NaN stats gone
    trainer.train_step(images, targets)  # step 3 runs at half the scheduled LR
    fresh = create_train_scheduler(
        torch.optim.SGD([torch.zeros(1)], lr=0.1), trainer.config, len(trainer.loader)
    )
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.5 * fresh._get_lr(3)[0])
    records = [
        json.loads(line) for line in Path(trainer.config.out, "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["event"] for r in records if "event" in r] == ["skip", "skip", "rollback"]


def test_loss_spikes_are_skipped():
    from supernet.train.guard import CollapseGuard

    guard = CollapseGuard(spike_factor=3.0, warmup_steps=5, max_skips=2)
    assert [guard.check(1.0, 1.0) for _ in range(5)] == [None] * 5
    assert guard.check(2.9, 1.0) is None and guard.check(10.0, 1.0) == "spike"
    assert guard.check(1.0, float("inf")) == "non-finite" and guard.should_roll_back
    guard.snapshot_taken()
    assert not guard.should_roll_back


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_steps_update_the_weights(tmp_path, amp):
    trainer = Trainer(tiny_config(tmp_path, amp=amp, device="cpu"))
    before = trainer.model.conv_stem.weight.detach().clone()
    steps = [trainer.train_step(images, targets) for images, targets in itertools.islice(trainer.loader, 3)]
    assert all(math.isfinite(o["loss"]) for o in steps) and not steps[-1]["skipped"]
    assert trainer.scaler.is_enabled() == (amp == "fp16")
    assert trainer.guard.skips_since_snapshot == 0  # fp16 overflow steps are the scaler's business
    assert not torch.equal(before, trainer.model.conv_stem.weight)


def test_a_diverging_run_stops_before_saving_and_names_the_cause(tmp_path):
    from supernet.train.guard import DivergenceError

    config = tiny_config(tmp_path, epochs=1, lr=1000.0, warmup_epochs=0)
    with pytest.raises(DivergenceError, match=r"training diverged at epoch 1 \(step 6\).*lr 1000 too high"):
        Trainer(config).fit()
    assert not (Path(config.out) / "checkpoint.json").exists()
    assert not list(Path(config.out).glob("weights-*"))
    assert not (Path(config.out) / ".lock").exists()  # the run directory is released


def test_health_check_refuses_non_finite_weights_and_exploded_norms_at_chance():
    from supernet.train.guard import DivergenceError, check_health, weight_norm

    model = torch.nn.Linear(4, 3)
    norm = weight_norm(model)
    healthy = dict(loss=0.5, num_classes=3, epoch=1, step=10, lr=0.1, momentum=0.9)
    assert check_health(model, norm, **healthy) == pytest.approx(norm)
    with torch.no_grad():
        model.weight.mul_(1000)
    assert check_health(model, norm, **healthy) > 100 * norm  # learning, not at chance
    with pytest.raises(DivergenceError, match=r"loss 1.1 stays at chance .* grew"):
        check_health(model, norm, loss=1.1, num_classes=3, epoch=2, step=20, lr=5.0, momentum=0.9)
    with torch.no_grad():
        model.weight[0, 0] = math.nan
    with pytest.raises(DivergenceError, match=r"epoch 3 \(step 30\): 1 weights are NaN or infinite"):
        check_health(model, norm, loss=0.5, num_classes=3, epoch=3, step=30, lr=0.1, momentum=0.9)


def test_checkpoints_refuse_non_finite_weights(tmp_path):
    from supernet.train.checkpoint import save_checkpoint

    trainer = Trainer(tiny_config(tmp_path, epochs=1))
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(math.nan)
    with pytest.raises(CheckpointError, match="refusing to save epoch 1 .* NaN or infinite"):
        save_checkpoint(trainer.out, trainer.model, trainer.config, epoch=1, step=6)
    assert not list(Path(trainer.out).glob("weights-*"))
    trainer.close()


def test_a_kill_between_checkpoint_and_metrics_write_loses_no_metrics_line(tmp_path):
    config = tiny_config(tmp_path, epochs=1)
    Trainer(config).fit()
    metrics = Path(config.out) / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    epoch_line = next(line for line in lines if '"loss"' in line)
    # as if killed right after the pointer write: no epoch line, and a torn half line at the end
    kept = [line for line in lines if line != epoch_line and '"final"' not in line]
    metrics.write_text("".join(line + "\n" for line in kept) + '{"ev')
    (Path(config.out) / ".weights-e0002.safetensors.abc.tmp").write_bytes(b"partial")  # a killed save's
    (Path(config.out) / "state-e0002.pt").write_bytes(b"orphan")  # written, never referenced
    Trainer(TrainConfig(**{**config.to_dict(), "epochs": 2, "resume": True})).fit()
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["epoch"] for r in records if "loss" in r] == [1, 2]
    assert records[[r.get("epoch") for r in records].index(1)] == json.loads(epoch_line)
    assert sorted(p.name for p in Path(config.out).glob("*e000*")) == [
        "state-e0002.pt",
        "weights-e0002.safetensors",
    ]
    assert not list(Path(config.out).glob(".*.tmp"))


def test_two_runs_cannot_share_a_run_directory(tmp_path):
    import os

    from supernet.errors import OutputError

    config = tiny_config(tmp_path, epochs=1)
    out = Path(config.out)
    out.mkdir()
    # another live process on this host owns it (pid 1 is always alive)
    (out / ".lock").write_text(json.dumps({"pid": 1, "host": os.uname().nodename, "started": None}))
    with pytest.raises(OutputError, match="in use by running process 1"):
        Trainer(config)
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing written, the owner's lock kept
    # a dead owner's lock is stale: taken over, and released when the run ends
    (out / ".lock").write_text(
        json.dumps({"pid": 2**22 + 12345, "host": os.uname().nodename, "started": "1"})
    )
    Trainer(config).fit()
    assert not (out / ".lock").exists() and (out / "checkpoint.json").is_file()


def test_a_custom_activation_round_trips_through_checkpoint_and_extraction(tmp_path):
    from supernet import ElasticMobileNetV2, SearchSpace, extract_subnet
    from supernet.train.checkpoint import save_checkpoint

    space = SearchSpace.resolve(str(Path(__file__).parents[1] / "spaces" / "tiny.yaml"))
    torch.manual_seed(0)
    model = ElasticMobileNetV2(space, num_classes=10, in_chans=3, act_layer=torch.nn.SiLU).eval()
    save_checkpoint(tmp_path, model, TrainConfig(), epoch=1, step=1)
    loaded = load_checkpoint(tmp_path).model
    assert loaded.act_name == "silu"
    arch = space.smallest()
    x = torch.randn(2, 3, 12, 12)
    loaded.set_active(arch)
    subnet = extract_subnet(loaded, arch).eval()
    assert any(isinstance(m, torch.nn.SiLU) for m in subnet.modules())
    assert torch.allclose(subnet(x), loaded(x), atol=1e-5)
    with pytest.raises(Exception, match="act_layer .* is not supported; allowed: relu6"):
        ElasticMobileNetV2(space, act_layer=torch.nn.Tanh)


def test_a_new_run_does_not_replace_files_it_did_not_write(tmp_path):
    """A user's own config.json (or metrics.jsonl) in --out is never replaced by a new run; what an earlier
    start of a run there wrote (killed before its first checkpoint) is, so the same command starts again."""
    from supernet.train.resume import check_new_run_files

    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("kept\n")
    check_new_run_files(out)  # other files are no obstacle
    (out / "config.json").write_text('{"lr": 0.05}')
    with pytest.raises(CheckpointError, match="holds config.json, which no run started there wrote"):
        Trainer(TrainConfig(dataset="synthetic", img_size=16, epochs=1, out=str(out), progress=False))
    assert (out / "config.json").read_text() == '{"lr": 0.05}'
    for where in (str(out), "run", "./elsewhere/../run"):  # the run's own, however its out was spelled
        (out / "config.json").write_text(json.dumps(TrainConfig(out=where).to_dict()))
        check_new_run_files(out)
    (out / "config.json").write_text(json.dumps(TrainConfig(out=str(tmp_path / "other")).to_dict()))
    with pytest.raises(CheckpointError, match="choose another --out"):
        check_new_run_files(out)
