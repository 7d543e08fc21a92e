"""`supernet tune`: option checks, the results table and (slow) a real ASHA sweep on a local cluster."""

import argparse
import json
from pathlib import Path

import pytest

from supernet.distributed.cli import register_tune
from supernet.distributed.tune import SweepSpace, TuneError, results_table, run_sweep, score
from supernet.errors import SupernetError
from supernet.train.config import TrainConfig

TINY_SPACE = (Path(__file__).parents[2] / "spaces" / "tiny.yaml").read_text()


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"lr": (0.1, 0.01)}, "--lr needs 0 < MIN <= MAX"),
        ({"label_smoothing": (0.0, 1.0)}, "--label-smoothing needs"),
        ({"num_random": ()}, "--num-random needs one or more"),
        ({"warmup_epochs": (-1.0,)}, "--warmup-epochs: warmup_epochs"),
    ],
)
def test_sweep_space_is_validated(kwargs, words):
    with pytest.raises(TuneError, match=words):
        SweepSpace(**kwargs).validate()


def test_bad_sweep_options_fail_before_any_cluster_work():
    with pytest.raises(TuneError, match="--grace-epochs 3 exceeds --epochs 2"):
        run_sweep(TrainConfig(epochs=2), SweepSpace(), num_samples=2, grace_epochs=3, address="127.0.0.1:1")
    with pytest.raises(TuneError, match="--reduction-factor >= 2"):
        run_sweep(
            TrainConfig(epochs=2), SweepSpace(), num_samples=2, reduction_factor=1, address="127.0.0.1:1"
        )


@pytest.mark.parametrize(
    "base, words",
    [
        (TrainConfig(space="nope"), "unknown search space 'nope'"),
        (TrainConfig(dataset="fashion-mnist", data_dir="/nowhere"), "Fashion-MNIST not found in /nowhere"),
        (TrainConfig(dataset="imagefolder", data_dir="/nowhere"), "imagefolder data not found: /nowhere"),
    ],
)
def test_a_bad_space_or_data_set_fails_once_before_any_trial(base, words):
    """Not in every trial (each with its traceback) minutes later: before the cluster is reached."""
    with pytest.raises(SupernetError, match=words):
        run_sweep(base, SweepSpace(), num_samples=2, address="127.0.0.1:1")


def test_score_weighs_smallest_and_largest_alike():
    assert score({"val_acc_smallest": 0.5, "val_acc_largest": 0.9}) == pytest.approx(0.7)
    assert score({"val_acc_smallest": 0.9, "val_acc_largest": 0.5}) == pytest.approx(0.7)


def test_results_table_lists_rows_in_order_with_the_command():
    rows = [
        {"lr": 0.05, "num_random": 2, "label_smoothing": 0.1, "warmup_epochs": 1.0, "epoch": 4,
         "val_acc_smallest": 0.8, "val_acc_largest": 0.9, "score": 0.85},
        {"lr": 0.15, "num_random": 1, "label_smoothing": 0.0, "warmup_epochs": 0.0, "epoch": 1,
         "val_acc_smallest": 0.2, "val_acc_largest": 0.4, "score": 0.3},
    ]  # fmt: skip
    table = results_table(rows, "supernet tune --samples 2")
    assert "Command: `supernet tune --samples 2`" in table
    body = [line for line in table.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert body[0].startswith("| 1 | 0.05 | 2 | 0.100 | 1 | 4 | 0.8000 | 0.9000 | 0.8500 |")
    assert body[1].startswith("| 2 | 0.15 | 1 |")


def test_best_config_has_the_full_epochs_and_a_ready_train_command(tmp_path):
    from supernet.distributed.tune import best_config, train_command

    base = TrainConfig(epochs=1, out="runs/x")  # the short trial length
    row = {"lr": 0.05, "num_random": 3, "label_smoothing": 0.12, "warmup_epochs": 2.0, "score": 0.9}
    best = best_config(base, row, 30, str(tmp_path / "my run"))
    assert (best.epochs, best.lr, best.num_random, best.label_smoothing) == (30, 0.05, 3, 0.12)
    assert best.out == str(tmp_path / "my run") and not best.resume
    path = tmp_path / "tune dir" / "best_config.json"
    assert train_command(path) == f"supernet train --config '{path}'"  # quoted for the shell
    with pytest.raises(TuneError, match="--train-epochs must be an integer"):
        best_config(base, row, 0, "x")
    table = results_table([{**row, "epoch": 1, "val_acc_smallest": 0.8, "val_acc_largest": 0.9}], "c", "t")
    assert "Train the best configuration: `t`" in table


def test_cli_parses_sweep_ranges():
    parser = argparse.ArgumentParser()
    register_tune(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["tune", "--lr", "0.02", "0.1", "--num-random", "1", "2", "--samples", "3"])
    assert args.lr == [0.02, 0.1] and args.num_random == [1, 2] and args.samples == 3


@pytest.mark.slow
def test_asha_sweep_on_a_local_cluster_writes_best_config_and_table(tmp_path, monkeypatch):
    import ray

    from supernet.distributed.cli import _tune

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY_SPACE)
    base = TrainConfig(space=str(space), dataset="synthetic", img_size=16, epochs=2, batch_size=32,
                       calib_images=32, calib_batch_size=32, progress=False)  # fmt: skip
    (tmp_path / "base.json").write_text(base.to_json())
    parser = argparse.ArgumentParser()
    register_tune(parser.add_subparsers(dest="command"))
    out = tmp_path / "tune"
    args = parser.parse_args(["tune", "--config", str(tmp_path / "base.json"), "--samples", "3", "--num-random", "1",
                              "--lr", "0.02", "0.1", "--out", str(out)])  # fmt: skip
    assert _tune(args) == 0
    assert not ray.is_initialized()

    best = TrainConfig.load(out / "best_config.json")
    assert 0.02 <= best.lr <= 0.1 and best.num_random == 1 and best.space == str(space)
    assert best.epochs == 2 and best.out == str(out / "best-run")
    assert f"`supernet train --config {out / 'best_config.json'}`" in (out / "tune_results.md").read_text()
    rows = [
        line
        for line in (out / "tune_results.md").read_text().splitlines()
        if line[:3] in ("| 1", "| 2", "| 3")
    ]
    assert len(rows) == 3
    scores = [float(r.rstrip(" |").rsplit("|", 1)[1]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    epochs = [int(r.split("|")[6]) for r in rows]
    assert max(epochs) == 2 and min(epochs) >= 1  # ASHA may stop some trials after the grace epoch
    assert f"{best.lr:.4g}" == rows[0].split("|")[2].strip()
    assert json.loads((out / "best_config.json").read_text())["warmup_epochs"] in (0.0, 1.0, 2.0)
