"""`supernet train` on the command line: a tiny run end to end, and one-line errors for bad input."""

import json

from supernet_cli import main
from tests.supernet.test_train_trainer import TINY


def test_train_command_runs_and_resumes(tmp_path, capsys):
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY)
    out = tmp_path / "run"
    argv = ["train", "--space", str(space), "--dataset", "synthetic", "--img-size", "16", "--epochs", "1",
            "--batch-size", "96", "--calib-images", "32", "--no-progress", "--grad-clip", "none", "--out", str(out)]  # fmt: skip
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
    assert "lr must be > 0" in capsys.readouterr().err
