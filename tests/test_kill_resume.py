"""kill -9 at random points of `train`, `extract` and `latency build`, then the same command again: the
result equals an uninterrupted run (bit-identical weights on CPU, the same search log, table entries
kept exactly), and nothing a killed run left behind (temp files, staging folders, locks) survives. Training
runs in 2 processes (the CPU default; that its ranks die with it is asserted in test_train_procs.py).
Slow: about 30 real processes killed (`make test-slow`)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from latency.table import LatencyTable
from supernet.train.checkpoint import load_checkpoint

ROOT = Path(__file__).parents[1]
TINY = ROOT / "tests" / "spaces" / "tiny.yaml"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
pytestmark = pytest.mark.slow


def _cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "supernet_cli", *argv]


def _run(argv: list[str]) -> float:
    start = time.monotonic()
    subprocess.run(argv, check=True, env=ENV, capture_output=True)
    return time.monotonic() - start


def _kill_at(argv: list[str], seconds: float) -> bool:
    """Start `argv`, SIGKILL it after `seconds`; True if it was still running (a real kill)."""
    proc = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


def _leftovers(folder: Path) -> list[str]:
    return [
        str(p)
        for p in folder.rglob("*")
        if p.name.endswith(".tmp") or p.name.startswith((".staging-", ".lock"))
    ]


def test_train_killed_at_random_points_resumes_bit_identically(tmp_path):
    def train(out: Path) -> list[str]:
        resume = ["--resume"] if (out / "checkpoint.json").is_file() else []
        return _cli("train", "--space", str(TINY), "--dataset", "synthetic", "--img-size", "16", "--epochs", "4",
                    "--batch-size", "48", "--calib-images", "48", "--threads", "1", "-q", "--out", str(out),
                    "--nproc-per-node", "2",
                    *resume)  # fmt: skip

    straight = tmp_path / "straight"
    duration = _run(train(straight))
    killed, rng, kills = tmp_path / "killed", random.Random(14), 0
    while kills < 14:
        kills += _kill_at(train(killed), rng.uniform(0.3, 1.0) * duration)
    subprocess.run(train(killed), check=True, env=ENV, capture_output=True)
    assert load_checkpoint(killed).sha256 == load_checkpoint(straight).sha256
    a, b = (load_checkpoint(d).model.state_dict() for d in (straight, killed))
    assert all((a[k] == b[k]).all() for k in a)
    records = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert sorted(r["epoch"] for r in records if "loss" in r) == [1, 2, 3, 4]  # each epoch's line, once
    assert sorted(p.name for p in killed.glob("*-e*")) == ["state-e0004.pt", "weights-e0004.safetensors"]
    assert _leftovers(killed) == []


def test_extract_killed_at_random_points_resumes_to_the_same_search_log(tmp_path):
    run = tmp_path / "run"
    _run(_cli("train", "--space", str(TINY), "--dataset", "synthetic", "--img-size", "16", "--epochs", "1",
              "--batch-size", "48", "--calib-images", "48", "-q", "--out", str(run)))  # fmt: skip
    _run(_cli("latency", "build", "--space", str(TINY), "--target", "macs", "--in-chans", "3",
              "--num-classes", "10", "--out", str(tmp_path / "macs.json")))  # fmt: skip

    def extract(out: Path) -> list[str]:
        return _cli("extract", "--checkpoint", str(run), "--lut", str(tmp_path / "macs.json"), "--budget", "3",
                    "--unit", "mmacs", "--evals", "12", "--int8", "-q", "--out", str(out))  # fmt: skip

    straight = tmp_path / "straight"
    duration = _run(extract(straight))

    def finished(out: Path) -> bool:
        return (out / "search.json").is_file() and not (out / "search.journal.jsonl").exists()

    def same_as_straight(out: Path) -> None:
        assert (out / "search.json").read_text() == (straight / "search.json").read_text()
        for name in ("model.onnx", "model.int8.onnx", "arch.json"):
            assert (out / name).read_bytes() == (straight / name).read_bytes(), name
        assert _leftovers(out) == []

    rng, kills, runs = random.Random(15), 0, 0
    killed = tmp_path / "killed-0"
    while kills < 8:
        kills += _kill_at(extract(killed), rng.uniform(0.3, 1.0) * duration)
        if finished(killed):  # the kill came after the end: check it, then start over in a new folder
            same_as_straight(killed)
            runs += 1
            killed = tmp_path / f"killed-{runs}"
    if not finished(killed):
        subprocess.run(extract(killed), check=True, env=ENV, capture_output=True)
    same_as_straight(killed)


def test_latency_build_killed_at_random_points_keeps_every_measured_entry(tmp_path):
    out = tmp_path / "lut.json"
    build = _cli("latency", "build", "--space", str(TINY), "--target", "ort-cpu", "--in-chans", "3",
                 "--num-classes", "10", "--repeats", "3", "--warmup", "1", "--fit-samples", "4", "-q",
                 "--out", str(out))  # fmt: skip
    duration = _run([*build[:-1], str(tmp_path / "straight.json")])
    straight = LatencyTable.load(tmp_path / "straight.json")
    rng, kills, seen = random.Random(16), 0, {}
    while kills < 4:
        kills += _kill_at(build, rng.uniform(0.3, 1.0) * duration)
        if out.is_file():
            entries = LatencyTable.load(out).entries
            assert {k: entries[k] for k in seen} == seen  # nothing measured before a kill is lost or redone
            seen = dict(entries)
    subprocess.run(build, check=True, env=ENV, capture_output=True)
    final = LatencyTable.load(out)
    assert final.complete and set(final.entries) == set(straight.entries)
    assert {k: final.entries[k] for k in seen} == seen
    assert _leftovers(tmp_path) == []
