import json

import pytest
import torch

from latency.table import LatencyTable
from supernet_cli import main


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
