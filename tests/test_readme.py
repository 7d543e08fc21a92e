"""The README's Python snippet runs verbatim on a freshly trained (tiny) run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from supernet_cli import main

ROOT = Path(__file__).parents[1]


def _snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    (block,) = [b for b in blocks if "Supernet.from_run" in b]
    return block


def test_readme_snippet_runs_verbatim(tmp_path):
    tiny = ROOT / "tests" / "spaces" / "tiny.yaml"
    argv = ["train", "--space", str(tiny), "--dataset", "digits", "--epochs", "1", "--batch-size", "64",
            "--calib-images", "64", "-q", "--out", str(tmp_path / "runs" / "digits")]  # fmt: skip
    assert main(argv) == 0
    from sklearn.datasets import load_digits

    digit = load_digits().images[0]  # a 0
    Image.fromarray(np.round(digit * 255 / 16).astype(np.uint8)).save(tmp_path / "digit.png")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-c", _snippet()], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() in [str(i) for i in range(10)]  # a class name of the run
    assert sorted(p.name for p in (tmp_path / "shipped").iterdir()) == ["model.json", "model.safetensors"]
