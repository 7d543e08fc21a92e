"""experiments/gpu_check.sh, the one script for a lent GPU, runs end to end in its CPU smoke setting."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_cpu_smoke(tmp_path):
    env = {
        **os.environ,
        "PY": sys.executable,
        "RESULTS": str(tmp_path / "results"),
        "WORK": str(tmp_path / "w"),
    }
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        ["bash", str(ROOT / "experiments" / "gpu_check.sh"), "--device", "cpu"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = tmp_path / "results"
    assert "ratio sandwich/static" in (results / "sandwich_step.txt").read_text()
    records = [json.loads(x) for x in (results / "train_1epoch_metrics.jsonl").read_text().splitlines()]
    assert records[0]["images_per_s"] > 0 and records[-1]["final"]
    table = json.loads((results / "lut_torch-cpu.json").read_text())
    assert table["target"] == "torch-cpu"
    assert "Kendall" in (results / "lut_torch-cpu_validation.txt").read_text()
    assert "ratio cudnn-drawn/plan-free" in (results / "cuda_conv.txt").read_text()
    if (Path("/usr/share/datasets/fashion-mnist") / "train-images-idx3-ubyte.gz").is_file():  # the fm step
        fm = results / "fm_full"
        assert {p.name for p in (fm / "scratch").glob("*.json")} == {
            "small.json",
            "middle.json",
            "large.json",
        }
        assert json.loads((fm / "baselines" / "mbv2_0.35.json").read_text())["test_acc"] > 0
        assert any(json.loads(x).get("final") for x in (fm / "metrics.jsonl").read_text().splitlines())
        assert "epochs" in (fm / "epochs.txt").read_text()
