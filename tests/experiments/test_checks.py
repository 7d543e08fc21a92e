"""The targeted-check scripts of issue 11 run end to end on toy run directories (accuracies not checked)."""

import json
import subprocess
import sys
from pathlib import Path

import torch

from supernet import ElasticMobileNetV2, SearchSpace
from supernet.train.checkpoint import save_checkpoint
from supernet.train.config import TrainConfig

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def test_distill_check_scores_the_same_archs_on_both_supernets(tmp_path):
    space = SearchSpace.preset("mbv2-small")
    root = tmp_path / "run"
    for seed, (where, distill) in enumerate(((root / "supernet", True), (tmp_path / "other", False))):
        torch.manual_seed(seed)
        model = ElasticMobileNetV2(space, num_classes=10, in_chans=3)
        config = TrainConfig(dataset="synthetic", img_size=16, calib_images=32, inplace_distill=distill)
        save_checkpoint(where, model, config, epoch=1, step=1)
    small, large = space.smallest(), space.largest()
    for i, (arch, budget) in enumerate(((small, 0.05), (large, 0.3))):
        card = {"search": {"budget": budget}, "arch_string": str(arch), "accuracy": {"test": 0.5}}
        (root / "deploy" / f"b{i}").mkdir(parents=True)
        (root / "deploy" / f"b{i}" / "card.json").write_text(json.dumps(card))
    (root / "scratch").mkdir()
    (root / "scratch" / "small.json").write_text(json.dumps({"test_acc": 0.25}))
    out = tmp_path / "distill.md"
    cmd = [sys.executable, str(EXPERIMENTS / "distill_check.py"), "--run", str(root)]
    proc = subprocess.run(
        [*cmd, "--other", str(tmp_path / "other"), "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    assert "in-place distillation on); supernet B" in text and "in-place distillation off)" in text
    assert "inplace_distill True (A) vs False (B)" in text  # the configs' one real difference is named
    rows = {ln.split(" `")[0]: ln.split(" | ") for ln in text.splitlines() if "` |" in ln}
    # the space's smallest is the small pick's arch here, so it carries the from-scratch result too
    assert list(rows) == ["| budget 0.05 ms (small)", "| budget 0.3 ms", "| largest", "| smallest (small)"]
    assert rows["| budget 0.05 ms (small)"][6] == "25.00"  # its from-scratch accuracy, beside both
    assert rows["| budget 0.3 ms"][6] == "-"  # not trained alone
    assert len(list((root / "distill_check").glob("*.json"))) == 2  # one score cache per checkpoint
