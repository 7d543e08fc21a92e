import json

import pytest
import torch

from latency.table import LatencyTable
from supernet_cli import main

from .conftest import exit_code


def test_build_and_show_json(space, tmp_path, capsys):
    lut = tmp_path / "macs.json"
    assert (
        main(["latency", "build", "--space", "mbv2-small", "--target", "macs", "--out", str(lut), "--quiet"])
        == 0
    )
    arch = space.largest()
    capsys.readouterr()
    assert main(["latency", "show", str(arch), "--lut", str(lut), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["unit"] == "MMACs" and out["total"] == LatencyTable.load(lut).predict(arch)
    assert sum(layer["value"] for layer in out["layers"]) == out["total"]
    for name in ("largest", "smallest"):  # as every --arch takes them
        assert main(["latency", "show", name, "--lut", str(lut), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["arch"] == str(getattr(space, name)())
    assert main(["latency", "show", "mobilenetv2_100", "--lut", str(lut)]) == 2  # a member of mbv2-imagenet
    assert "mobilenetv2_100 is a member of the mbv2-imagenet preset" in capsys.readouterr().err


def test_show_ms_table_text_and_json(fake_table, space, tmp_path, capsys):
    fake_table.save(tmp_path / "lut.json")
    arch_file = tmp_path / "arch.json"
    arch_file.write_text(space.smallest().to_json())
    assert main(["latency", "show", str(arch_file), "--lut", str(tmp_path / "lut.json"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_ms"] == fake_table.predict_ms(space.smallest())
    assert main(["latency", "show", str(arch_file), "--lut", str(tmp_path / "lut.json")]) == 0
    assert "predicted end to end" in capsys.readouterr().out


def test_bad_input_is_one_line_exit_2(tmp_path, capsys, space):
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    assert main(["latency", "show", str(space.smallest()), "--lut", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not valid JSON" in err and len(err.splitlines()) == 1
    assert main(["latency", "validate", "--lut", str(tmp_path / "none.json")]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="torch-cuda is available on a GPU machine")
def test_build_refuses_an_unavailable_target_in_one_line(tmp_path, capsys):
    args = [
        "latency",
        "build",
        "--space",
        "mbv2-small",
        "--target",
        "torch-cuda",
        "--out",
        str(tmp_path / "t.json"),
    ]
    assert main(args) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "t.json").exists()


@pytest.mark.parametrize(
    "extra,option",
    [(["--in-chans", "0"], "--in-chans"), (["--in-chans", "-3"], "--in-chans"), (["--num-classes", "0"], "--num-classes"),
     (["--threads", "0"], "--threads"), (["--batch", "0"], "--batch"), (["--repeats", "0"], "--repeats")],
)  # fmt: skip
def test_build_options_out_of_range_are_one_line_errors(tmp_path, capsys, extra, option):
    out = tmp_path / "t.json"
    argv = ["latency", "build", "--space", "mbv2-small", "--target", "ort-cpu", "--out", str(out), *extra]
    assert exit_code(argv) == 2
    err = capsys.readouterr().err.strip()
    assert f"argument {option}: must be an integer in [1, " in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_validate_samples_zero_is_a_one_line_error(fake_table, tmp_path, capsys):
    fake_table.save(tmp_path / "lut.json")
    for extra, option in ((["--samples", "0"], "--samples"), (["--passes", "0"], "--passes")):
        assert exit_code(["latency", "validate", "--lut", str(tmp_path / "lut.json"), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert option in err and len(err.splitlines()) == 1


def test_a_count_build_does_not_replace_an_existing_table(fake_table, tmp_path, capsys):
    lut = tmp_path / "lut.json"
    fake_table.save(lut)
    before = lut.read_bytes()
    assert main(["latency", "build", "--space", "mbv2-small", "--target", "macs", "--out", str(lut)]) == 2
    assert "--overwrite" in capsys.readouterr().err and lut.read_bytes() == before
    assert (
        main(
            [
                "latency",
                "build",
                "--space",
                "mbv2-small",
                "--target",
                "macs",
                "--out",
                str(lut),
                "--overwrite",
            ]
        )
        == 0
    )
    assert LatencyTable.load(lut).target == "macs"


def test_build_takes_space_and_io_from_a_training_run(tmp_path, capsys):
    from supernet import ElasticMobileNetV2, SearchSpace
    from supernet.train.checkpoint import save_checkpoint
    from supernet.train.config import TrainConfig

    space = SearchSpace.preset("mbv2-small")
    config = TrainConfig(dataset="synthetic", img_size=16, out=str(tmp_path / "run"))
    save_checkpoint(
        tmp_path / "run", ElasticMobileNetV2(space, num_classes=7, in_chans=1), config, epoch=1, step=1
    )
    lut = tmp_path / "macs.json"
    assert (
        main(
            ["latency", "build", "--checkpoint", str(tmp_path / "run"), "--target", "macs", "--out", str(lut)]
        )
        == 0
    )
    table = LatencyTable.load(lut)
    assert (table.in_chans, table.num_classes, table.space_fingerprint) == (1, 7, space.fingerprint())
    argv = ["latency", "build", "--checkpoint", str(tmp_path / "run"), "--target", "macs", "--in-chans", "3"]
    assert main([*argv, "--out", str(tmp_path / "x.json")]) == 2
    assert "contradicts --checkpoint" in capsys.readouterr().err
    assert main(["latency", "build", "--target", "macs", "--out", str(tmp_path / "y.json")]) == 2
    assert "--space" in capsys.readouterr().err


def test_repeats_help_names_the_default_statistic(capsys):
    with pytest.raises(SystemExit):
        main(["latency", "build", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--stat of them is kept" in text and "median (default" in text


@pytest.mark.parametrize(
    "target,extra,words",
    [("macs", ["--threads", "2"], "--threads only sets how layers are timed, and --target macs is an exact count"),
     ("params", ["--repeats", "5", "--stat", "min"], "--repeats, --stat only set how layers are timed"),
     ("fpga-int8", ["--provider", "CUDAExecutionProvider"], "--target fpga-int8 is an analytic model"),
     ("fpga-int8", ["--batch", "4", "--fit-samples", "8"], "--batch, --fit-samples only set"),
     ("ort-cpu", ["--fpga", "zcu102-b4096"], "--fpga applies to --target fpga-int8 only, not ort-cpu"),
     ("macs", ["--warmup", "1", "--fpga", "zcu102-b4096"], "--warmup only sets how layers are timed")],
)  # fmt: skip
def test_build_refuses_options_the_target_would_ignore(tmp_path, capsys, target, extra, words):
    out = tmp_path / "t.json"
    argv = ["latency", "build", "--space", "mbv2-small", "--target", target, "--out", str(out), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1
    assert not out.exists()
    # the FPGA model's own option stays accepted
    assert main(["latency", "build", "--space", "mbv2-small", "--target", "fpga-int8", "--fpga",
                 "zcu102-b4096", "--out", str(out), "-q"]) == 0  # fmt: skip


def test_build_overwrite_replaces_only_a_table(tmp_path, capsys):
    """--overwrite over a file that is not a latency table (a run's checkpoint.json) is refused, file kept."""
    pointer = tmp_path / "checkpoint.json"
    pointer.write_text('{"weights": "weights-e0001.safetensors"}')
    argv = ["latency", "build", "--space", "mbv2-small", "--target", "macs", "--overwrite", "-q"]
    assert main([*argv, "--out", str(pointer)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a latency table; --overwrite replaces only a table" in err[0]
    assert pointer.read_text() == '{"weights": "weights-e0001.safetensors"}'
    table = tmp_path / "macs.json"
    assert main([*argv, "--out", str(table)]) == 0 and main([*argv, "--out", str(table)]) == 0
