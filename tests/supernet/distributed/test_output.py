"""What `supernet train --num-workers 2` prints: rank 0's progress once, none of Ray's per-rank or cluster noise."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.proc_table import processes

ROOT = Path(__file__).resolve().parents[3]
TINY = ROOT / "tests" / "spaces" / "tiny.yaml"
NOISE = ("TrainingReport", "PlacementGroupCleaner", "PreemptionWatcher", "Computing precise BN", "pid=")


def _ray_processes(marker: str) -> list[str]:
    return [cmd[:100] for _, cmd in processes().values() if marker in cmd]


def _train(out: Path, *extra: str) -> subprocess.CompletedProcess:
    """A real 2-worker run on a local Ray cluster of its own (its own temp dir, so its processes are known)."""
    temp = tempfile.mkdtemp(prefix="rq", dir="/tmp")  # short: Ray's socket paths are limited
    env = {
        **os.environ,
        "RAY_TMPDIR": temp,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("RAY_ADDRESS", None)
    try:
        return subprocess.run(
            [sys.executable, "-m", "supernet_cli", "train", "--space", str(TINY), "--dataset", "synthetic",
             "--img-size", "16", "--epochs", "2", "--batch-size", "32", "--num-random", "1",
             "--calib-images", "32", "--out", str(out), "--num-workers", "2", *extra],
            env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    finally:
        left = _ray_processes(temp)
        shutil.rmtree(temp, ignore_errors=True)
        assert not left, f"Ray processes of the run left running: {left}"


@pytest.mark.slow
def test_default_output_is_rank_0_progress_only(tmp_path):
    done = _train(tmp_path / "run")
    printed = done.stdout + done.stderr
    assert done.returncode == 0, printed[-3000:]
    for noise in NOISE:
        assert noise not in printed, f"{noise!r} in the output:\n{printed}"
    assert printed.count("epoch 1/2 loss") == 1 and printed.count("epoch 2/2 loss") == 1
    assert "done: " in done.stdout


@pytest.mark.slow
def test_verbose_shows_rays_own_lines(tmp_path):
    done = _train(tmp_path / "run", "--verbose")
    printed = done.stdout + done.stderr
    assert done.returncode == 0, printed[-3000:]
    assert "Reporting training result" in printed and "from rank 1" in printed  # every rank's reports
    assert printed.count("epoch 2/2 loss") == 1  # the progress itself is still rank 0's alone
