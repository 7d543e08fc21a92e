"""Hostile input through the real CLI, one generic test swept over every class of bad input.

Each case runs `supernet ...` in its own process (forked from a server that imported torch once, see
`tests/cli_runner.py`; one case also goes through `python -m supernet_cli`) against a shared world (a trained tiny run, tables, an
export, damaged copies of the run) and asserts: exit code 2, exactly one stderr line that names the
file or option, says what is wrong and what is allowed, no traceback, and not one byte of the world
changed (every file hashed before and after). The cases are a table in `tests/robustness_cases.py`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from latency.build import count_table
from supernet import SearchSpace
from supernet.train.checkpoint import POINTER
from supernet.train.config import TrainConfig
from supernet.train.trainer import Trainer
from tests.cli_runner import CliRunner
from tests.robustness_cases import CASES, EXPORT, EXTRACT, ROOT, SMALLEST, TINY, TRAIN


def _tamper_pointer(run: Path, change) -> None:
    desc = json.loads((run / POINTER).read_text())
    change(desc)
    (run / POINTER).write_text(json.dumps(desc))


def _tamper_state(run: Path, change) -> None:
    desc = json.loads((run / POINTER).read_text())
    path = run / desc["state"]
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)
    desc["state_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (run / POINTER).write_text(json.dumps(desc))


@pytest.fixture(scope="module")
def cli():
    runner = CliRunner({**os.environ, "PYTHONPATH": str(ROOT)})
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory, cli) -> Path:
    w = tmp_path_factory.mktemp("world")
    config = TrainConfig(space=str(TINY), dataset="synthetic", img_size=16, epochs=1, batch_size=48,
                         calib_images=48, calib_batch_size=48, out=str(w / "run"), progress=False)  # fmt: skip
    Trainer(config).fit()
    count_table(SearchSpace.resolve(str(TINY)), "macs", 3, 10).save(w / "macs.json")
    export = ["export", "--checkpoint", str(w / "run"), "--arch", SMALLEST, "--out", str(w / "deploy"), "-q"]
    assert cli.run(export, w)[0] == 0
    (w / "a-file").write_text("not a folder\n")
    (w / "not-utf8.json").write_bytes(b'{"lr": 0.1, "seed": "\xff"}')
    (w / "null-lr.json").write_text('{"lr": null}')
    (w / "str-epochs.json").write_text('{"epochs": "3"}')
    (w / "unknown-key.json").write_text('{"learning_rate": 0.1}')
    (w / "infinity.json").write_text('{"lr": Infinity}')
    arch = SearchSpace.resolve(str(TINY)).smallest().to_dict()
    for name, change in {
        "kernel-55": {"kernel_sizes": [["55"], [3]]},
        "depth-float": {"depths": [2.7, 1]},
        "res-float": {"resolution": 12.0},
        "depth-inf": None,
    }.items():
        text = (
            json.dumps({**arch, **change}) if change else json.dumps(arch).replace("[1, 1]", "[Infinity, 1]")
        )
        (w / f"arch-{name}.json").write_text(text)
    (w / "arch-not-utf8.json").write_bytes(b"\x80\x81")
    (w / "imagenet" / "train").mkdir(parents=True)
    (w / "imagenet" / "val").mkdir()
    damaged = {
        "no-sha": lambda d: d.pop("weights_sha256"),
        "epoch-str": lambda d: d.update(epoch="abc"),
        "model-kw": lambda d: d["model"].update(bogus=1),
        "classes-str": lambda d: d["model"].update(num_classes="10"),
        "config-null": lambda d: d["config"].update(lr=None),
    }
    for name, change in damaged.items():
        shutil.copytree(w / "run", w / f"run-{name}")
        _tamper_pointer(w / f"run-{name}", change)
    shutil.copytree(w / "run", w / "run-not-utf8")
    (w / "run-not-utf8" / POINTER).write_bytes(b"\xfe\xff{}")
    shutil.copytree(w / "run", w / "run-no-guard")
    _tamper_state(w / "run-no-guard", lambda s: s.pop("guard"))
    shutil.copytree(w / "run", w / "run-bad-shape")
    _tamper_state(
        w / "run-bad-shape",
        lambda s: s["optimizer"]["state"].update({0: {"momentum_buffer": torch.zeros(3)}}),
    )
    shutil.copytree(w / "run", w / "run-locked")
    # a live owner: this test process (the CLI runs in a child, so the lock is another process's)
    (w / "run-locked" / ".lock").write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename,
                                                          "started": _start_time(os.getpid())}))  # fmt: skip
    (w / "empty-run").mkdir()
    (w / "own-config").mkdir()
    (w / "own-config" / "config.json").write_text('{"lr": 0.05}')  # a user's config, kept beside their run
    (w / "folder.yaml").mkdir()
    (w / "binary.yaml").write_bytes(b"name: x\n\xd0\xff\x00")  # e.g. a binary given by mistake
    (w / "syntax.yaml").write_text("name: x\nresolutions: [24\nstages: []\n")
    return w


def _start_time(pid: int) -> str:
    from supernet.outdir import _start_time as start

    return start(pid)


def _hash_tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_exit_2_and_changes_nothing(world, cli, case):
    argv, fragments = CASES[case]
    before = _hash_tree(world)
    returncode, _, stderr = cli.run([a.format(w=world) for a in argv], world)
    lines = stderr.strip().splitlines()
    assert returncode == 2, stderr[-2000:]
    assert "Traceback" not in stderr
    assert len(lines) == 1, stderr
    for fragment in fragments:
        assert fragment.format(w=world) in lines[0], (fragment, lines[0])
    assert _hash_tree(world) == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_without_a_gpu_is_one_line_through_the_console_entry_point(world):
    proc = subprocess.run(
        [sys.executable, "-m", "supernet_cli", *TRAIN, "--device", "cuda", "--out", str(world / "new")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "device cuda: this machine has 0 CUDA GPU(s); allowed: auto, cpu" in proc.stderr
    assert not (world / "new").exists()


def test_read_only_file_system_is_one_line(world, monkeypatch, capsys):
    from supernet_cli import main

    real = os.statvfs

    class ReadOnly:
        def __init__(self, result):
            self.f_flag = result.f_flag | os.ST_RDONLY

    monkeypatch.setattr(os, "statvfs", lambda p: ReadOnly(real(p)))
    before = _hash_tree(world)
    for argv in (
        [*TRAIN, "--out", str(world / "new")],
        [a.format(w=world) for a in [*EXPORT, "--arch", SMALLEST]],
        [a.format(w=world) for a in [*EXTRACT, "--out", "{w}/new-extract"]],
        ["tune", "--out", str(world / "new-tune")],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--out" in err[0] and "read-only file system" in err[0]
    assert _hash_tree(world) == before
