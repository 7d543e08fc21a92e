"""The bookkeeping behind experiments/fashion_mnist_full.py: tail epoch, plateau, CPU-hours, evals-to-best."""

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))

from full_stats import (  # noqa: E402
    best_so_far,
    collapsed,
    cpu_cost,
    cpu_hours,
    epochs_into_tail,
    evals_to_best,
    lr_tail_epoch,
    mean_spread,
    plateau,
)


def test_lr_tail_epoch_matches_the_schedule_formula():
    # defaults: warmup 1, decay 0.7 per epoch, floor 5%: 1 + ln(0.05)/ln(0.7) = 9.399
    t = lr_tail_epoch(1.0, 0.7, 1.0, 0.05)
    assert t == pytest.approx(9.3990, abs=1e-3)
    assert 0.7 ** (t - 1.0) == pytest.approx(0.05)
    assert epochs_into_tail(1.0, 0.7, 1.0, 0.05) == 11
    assert lr_tail_epoch(0.0, 0.5, 2.0, 0.25) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        lr_tail_epoch(1.0, 1.0, 1.0, 0.05)


def test_plateau_uses_the_last_two_epochs_and_their_start():
    assert plateau([0.80, 0.910, 0.911, 0.912]) == (True, pytest.approx(0.2))
    moved, move = plateau([0.80, 0.905, 0.908, 0.912])
    assert not moved and move == pytest.approx(0.7)
    # a drop counts as movement too
    assert plateau([0.9, 0.95, 0.94])[0] is False
    ok, move = plateau([0.9, 0.91])
    assert ok is False and math.isnan(move)


def test_cpu_cost_prefers_measured_cpu_time_and_fills_unmeasured_epochs_with_their_mean():
    assert cpu_cost([1800.0, 5400.0], [9e9, 9e9], 2) == (pytest.approx(2.0), "CPU time")
    hours, how = cpu_cost([None, 3600.0, 1800.0, None], [1.0] * 4, 2)
    assert hours == pytest.approx(4 * 2700 / 3600) and how.startswith("CPU time of 2 of 4 epochs")
    assert cpu_cost([None, None], [1800.0, 1800.0], 2) == (pytest.approx(2.0), "wall x processes")
    with pytest.raises(ValueError):
        cpu_cost([1.0], [1.0, 2.0], 1)


def test_cpu_hours_counts_every_process():
    assert cpu_hours([1800.0, 1800.0], 2) == pytest.approx(2.0)
    assert cpu_hours([], 1) == 0
    with pytest.raises(ValueError):
        cpu_hours([1.0], 0)


def test_evals_to_best_counts_from_one_and_none_when_never_reached():
    curve = best_so_far([0.5, 0.7, 0.6, 0.8, 0.8])
    assert curve == [0.5, 0.7, 0.7, 0.8, 0.8]
    assert evals_to_best(curve, 0.8) == 4
    assert evals_to_best(curve, 0.5) == 1
    assert evals_to_best(curve, 0.81) is None


def test_mean_spread_and_collapsed_budgets():
    assert mean_spread([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    assert mean_spread([0.5]) == (0.5, 0.0)
    chosen = [(0.3, "b"), (0.1, "a"), (0.2, "a"), (0.4, "c")]
    assert collapsed(chosen) == [(0.1, 0.2, "a")]


def test_holds_cpu_lock_sees_an_inherited_lock_descriptor(tmp_path):
    from full_proc import holds_cpu_lock

    lock = tmp_path / "cpu.lock"
    lock.touch()
    assert not holds_cpu_lock(str(lock))
    with open(lock):
        assert holds_cpu_lock(str(lock))


@pytest.mark.parametrize("stretch", [1.0, 2.5])
def test_stretch_scales_every_models_schedule_alike(stretch):
    """--stretch reaches the supernet's flags, the static models' TrainConfig and the ablation epochs."""
    import argparse

    from fashion_mnist_full import ablation_epochs, recipe, train_flags

    from supernet.train.config import TrainConfig

    d = TrainConfig()
    args = argparse.Namespace(
        stretch=stretch, batch_size=128, lr=0.2, nproc=2, threads=1, ablation_epochs=0, epochs=30
    )
    config = recipe(args, None, 0)
    assert config.warmup_epochs == d.warmup_epochs * stretch
    assert config.lr_decay_epochs == d.lr_decay_epochs * stretch
    flags = train_flags(args, 0)
    if stretch == 1:
        assert not any("warmup" in f or "decay" in f for f in flags)
    else:
        assert f"--warmup-epochs={d.warmup_epochs * stretch:g}" in flags
        assert f"--lr-decay-epochs={d.lr_decay_epochs * stretch:g}" in flags
    stretched = epochs_into_tail(
        d.warmup_epochs * stretch, d.lr_decay_rate, d.lr_decay_epochs * stretch, d.lr_floor
    )
    assert ablation_epochs(args) == stretched


def test_space_and_reused_baselines_reach_the_stages(tmp_path):
    """--space reaches the supernet command and copy_lut's check; --baselines-from copies a result with a note
    and writes the ONNX file of the same architecture, which the measure stage times."""
    import argparse
    import json

    import onnx
    from fashion_mnist_full import DEFAULTS, self_command, space_arg
    from full_alone import reuse_alone
    from static_baseline import mobilenetv2_small_input

    wide = str(Path(__file__).resolve().parents[2] / "experiments" / "spaces" / "mbv2-small-wide.yaml")
    args = argparse.Namespace(**DEFAULTS, out=str(tmp_path), data="d", train_images=0, epochs=30, stretch=1.0)
    vars(args).update(batch_size=512, lr=0.8, seed=0, threads=1, latency_rounds=5, widths=[0.35])
    assert "--space" not in self_command(args, "supernet") and space_arg(args) == "mbv2-small"
    args.space = wide
    cmd = self_command(args, "supernet")
    assert cmd[cmd.index("--space") + 1] == wide

    src = tmp_path / "src" / "mbv2_0.35.json"
    src.parent.mkdir()
    src.write_text(json.dumps({"test_acc": 0.9147, "note": "older"}))
    dst = tmp_path / "run" / "baselines" / "mbv2_0.35.json"
    reuse_alone(src, dst, mobilenetv2_small_input(0.35, 10, 1), 32)
    got = json.loads(dst.read_text())
    assert got["test_acc"] == 0.9147 and got["note"].startswith("older; trained by an earlier run")
    graph = onnx.load(str(dst.with_suffix(".onnx"))).graph
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim][1:] == [1, 32, 32]
    src.write_text(json.dumps({"test_acc": 0.5}))
    reuse_alone(src, dst, mobilenetv2_small_input(0.35, 10, 1), 32)  # done: kept
    assert json.loads(dst.read_text())["test_acc"] == 0.9147


def test_reused_scratch_result_must_be_the_same_arch(tmp_path):
    """--scratch-from copies an earlier run's from-scratch result only for the same arch with the same
    parameter count in this run's space (the wide space builds mbv2-small's archs identically), with a note."""
    import json

    from full_alone import train_arch_alone

    from supernet import SearchSpace
    from supernet.subnet import build_subnet
    from supernet.train.config import TrainConfig

    wide = SearchSpace.resolve(
        str(Path(__file__).resolve().parents[2] / "experiments/spaces/mbv2-small-wide.yaml")
    )
    small = SearchSpace.preset("mbv2-small")
    arch = small.smallest()
    params = sum(p.numel() for p in build_subnet(small, arch, 10, 1).parameters())
    src = tmp_path / "src" / "small.json"
    src.parent.mkdir()
    src.write_text(json.dumps({"test_acc": 0.9099, "arch": str(arch), "params": params, "budget": 0.04}))
    dst = tmp_path / "run" / "scratch" / "small.json"  # its folder is made
    train_arch_alone(arch, dst, TrainConfig(), wide, reuse=src)
    got = json.loads(dst.read_text())
    assert got["test_acc"] == 0.9099 and got["note"].startswith("trained from scratch by an earlier run")
    other = tmp_path / "run" / "scratch" / "large.json"
    with pytest.raises(SystemExit, match="holds arch"):
        train_arch_alone(wide.largest(), other, TrainConfig(), wide, reuse=src)
    assert not other.exists()


def test_reused_table_must_be_this_space_and_its_load_is_recorded(tmp_path):
    """--lut-from copies a table only of the run's space (and target, channels, classes); the load its build
    recorded is what the commands table shows, also for a table built without a `bench` wrapper."""
    import json

    from full_lut import copy_lut, table_load

    from supernet import SearchSpace

    root = Path(__file__).resolve().parents[2]
    src = root / "experiments/results/latency_mbv2-small-wide-1ch_ort-cpu_median.json"
    with pytest.raises(SystemExit, match="space"):
        copy_lut(src, tmp_path / "small.json", SearchSpace.preset("mbv2-small"))
    assert not (tmp_path / "small.json").exists()
    meta = copy_lut(
        src,
        tmp_path / "wide.json",
        SearchSpace.resolve(str(root / "experiments/spaces/mbv2-small-wide.yaml")),
    )
    assert json.loads((tmp_path / "wide.json").read_text()) == json.loads(src.read_text())
    assert table_load(meta) == "load 0.21 at start (built 2026-12-07T02:01:37+00:00)"
