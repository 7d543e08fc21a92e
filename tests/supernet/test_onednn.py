"""`supernet train` widens oneDNN's primitive cache: set before the first convolution, it takes effect.

oneDNN reports each primitive it builds, and whether the cache already held it, under
ONEDNN_VERBOSE=profile_create: the probe cycles through more convolution shapes than oneDNN's default
cache holds, twice, and counts the cache hits (all in the second pass, or none).
"""

import os
import subprocess
import sys

import pytest
import torch

from supernet.errors import SupernetError
from supernet.train import onednn
from supernet_cli import main

PROBE = """
import torch
from supernet.train.onednn import widen_primitive_cache

print(widen_primitive_cache(), flush=True)
torch.set_num_threads(1)
conv = torch.nn.Conv2d(8, 16, 3, bias=False).to(memory_format=torch.channels_last)
shapes = [(h, w) for h in range(1, 41) for w in range(1, 30)][: {shapes}]
for _pass in range(2):
    for h, w in shapes:
        conv(torch.zeros(2, 8, h + 2, w + 2).to(memory_format=torch.channels_last))  # batch 1: not oneDNN
"""


def _hits(env_value: str | None, shapes: int) -> tuple[str, int, int]:
    env = {k: v for k, v in os.environ.items() if k != onednn.ENV}
    env["ONEDNN_VERBOSE"] = "profile_create"
    if env_value is not None:
        env[onednn.ENV] = env_value
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.replace("{shapes}", str(shapes))],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()  # oneDNN's report goes to stdout too
    note = next(line for line in lines if line.startswith("oneDNN primitive cache"))
    convs = [line for line in lines if ",convolution," in line and ",create:" in line]
    return note, sum(",create:cache_hit," in line for line in convs), len(convs)


def test_the_widened_cache_keeps_more_shapes_than_onednns_default():
    shapes = onednn.ONEDNN_DEFAULT + 76  # cycling through more than the default holds evicts every one (LRU)
    note, hits, created = _hits(None, shapes)
    assert f"{onednn.CAPACITY} entries" in note
    assert created == 2 * shapes and hits == shapes
    note, hits, created = _hits(str(onednn.ONEDNN_DEFAULT), shapes)
    assert "as set" in note and created == 2 * shapes and hits == 0


def test_a_users_own_capacity_wins(monkeypatch):
    monkeypatch.setenv(onednn.ENV, "8")
    assert onednn.widen_primitive_cache().endswith("8 entries (ONEDNN_PRIMITIVE_CACHE_CAPACITY as set)")
    assert os.environ[onednn.ENV] == "8"
    monkeypatch.delenv(onednn.ENV)
    assert "default 1024" in onednn.widen_primitive_cache() and os.environ[onednn.ENV] == str(onednn.CAPACITY)


@pytest.mark.parametrize("value", ["", "lots", "-5", "1e4"])
def test_a_malformed_capacity_is_one_line_error(monkeypatch, tmp_path, capsys, value):
    monkeypatch.setenv(onednn.ENV, value)
    with pytest.raises(SupernetError, match="whole number"):
        onednn.widen_primitive_cache()
    assert main(["train", "--epochs", "1", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and onednn.ENV in err and "whole number" in err
    assert not (tmp_path / "run").exists()


def test_training_with_and_without_the_cache_gives_identical_weights(tmp_path):
    """The cache only saves rebuilding a primitive: oneDNN rebuilds the same one, so training is bit-identical."""
    from safetensors.torch import load_file

    from tests.supernet.test_train_trainer import TINY

    space = tmp_path / "tiny.yaml"
    space.write_text(TINY)
    weights, notes = [], []
    for name, value in (("wide", None), ("off", "0")):
        env = {k: v for k, v in os.environ.items() if k != onednn.ENV}
        if value is not None:
            env[onednn.ENV] = value
        argv = ["train", "--space", str(space), "--dataset", "synthetic", "--img-size", "16", "--epochs", "1",
                "--batch-size", "48", "--calib-images", "48", "--quiet", "--out", str(tmp_path / name)]  # fmt: skip
        proc = subprocess.run(
            [sys.executable, "-c", "import sys, supernet_cli; sys.exit(supernet_cli.main(sys.argv[1:]))", *argv],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        notes.append(next(line for line in proc.stderr.splitlines() if line.startswith("[train]")))
        weights.append(load_file(tmp_path / name / "weights-e0001.safetensors"))
    assert f"oneDNN primitive cache: {onednn.CAPACITY} entries" in notes[0]
    assert "oneDNN primitive cache: 0 entries (ONEDNN_PRIMITIVE_CACHE_CAPACITY as set)" in notes[1]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
