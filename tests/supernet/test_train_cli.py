"""`supernet train` on the command line: a tiny run end to end, and one-line errors for bad input."""

import json

import pytest

from supernet_cli import main
from tests.supernet.test_train_trainer import TINY


def test_train_command_runs_and_resumes(tmp_path, capsys):
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY)
    out = tmp_path / "run"
    argv = ["train", "--space", str(space), "--dataset", "synthetic", "--img-size", "16", "--epochs", "1",
            "--batch-size", "96", "--calib-images", "32", "--quiet", "--grad-clip", "none", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert "test accuracy smallest" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["grad_clip"] is None and config["batch_size"] == 96 and config["epochs"] == 1
    assert main([*argv[:-2], "--epochs", "2", "--resume", "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if "loss" in r] == [1, 2]


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    assert main(["train", "--dataset", "mnist", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "allowed: digits, fashion-mnist" in err
    assert (
        main(["train", "--dataset", "fashion-mnist", "--data", str(tmp_path), "--out", str(tmp_path / "b")])
        == 2
    )
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err
    assert main(["train", "--lr", "-1"]) == 2
    assert "lr must be in (0, 1000]" in capsys.readouterr().err


def test_resume_takes_a_run_or_checkpoint_config_takes_yaml_and_json_prints_one_line(tmp_path, capsys):
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY)
    out = tmp_path / "run"
    config = tmp_path / "train.yaml"
    config.write_text(
        f"space: {space}\ndataset: synthetic\nimg_size: 16\nepochs: 1\nbatch_size: 96\ncalib_images: 32\n"
    )
    assert main(["train", "--config", str(config), "--out", str(out), "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["command"] == "train" and summary["epoch"] == 1 and 0 <= summary["test_acc_largest"] <= 1
    saved = json.loads((out / "config.json").read_text())
    assert saved["batch_size"] == 96 and saved["progress"] is False
    # --resume RUN/checkpoint.json names the run directory (timm's --resume takes a path)
    assert (
        main(
            [
                "train",
                "--config",
                str(config),
                "--epochs",
                "2",
                "--resume",
                str(out / "checkpoint.json"),
                "-q",
            ]
        )
        == 0
    )
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if "loss" in r] == [1, 2]
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--out", str(tmp_path / "elsewhere")]) == 2
    assert "name different run directories" in capsys.readouterr().err
    config.write_text("epochs: [1\n")
    assert main(["train", "--config", str(config)]) == 2
    assert "is not valid YAML" in capsys.readouterr().err


def test_a_config_can_come_through_a_pipe_and_an_endless_one_is_refused(tmp_path):
    """`--config <(...)` is a pipe, not a file: read (up to a cap), not refused; /dev/zero is refused."""
    import os
    import threading

    from supernet.cli_common import read_config_file
    from supernet.jsonfile import MAX_BYTES
    from supernet.train.config import TrainConfigError

    fifo = tmp_path / "config"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text('{"epochs": 3}'))
    writer.start()
    assert read_config_file(fifo, "training config", TrainConfigError) == {"epochs": 3}
    writer.join()
    with pytest.raises(TrainConfigError, match=f"/dev/zero holds more than {MAX_BYTES >> 20} MiB"):
        read_config_file("/dev/zero", "training config", TrainConfigError)
