"""The targeted-check scripts of issue 11 run end to end on toy run directories (accuracies not checked)."""

import json
import subprocess
import sys
from pathlib import Path

import torch

from supernet import ElasticMobileNetV2, SearchSpace
from supernet.subnet import build_subnet
from supernet.train.checkpoint import save_checkpoint
from supernet.train.config import TrainConfig
from tests.fake_data import random_fashion_mnist

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


def _toy_run(tmp_path: Path, epochs: int) -> tuple[Path, Path]:
    """A run directory with a random supernet trained on a tiny Fashion-MNIST look-alike, two shipped cards
    (the space's smallest and largest) and the small arch's from-scratch result of `epochs` epochs."""
    data = random_fashion_mnist(tmp_path / "data", n_train=300, n_test=40)
    space, root = SearchSpace.preset("mbv2-small"), tmp_path / "run"
    config = TrainConfig(
        dataset="fashion-mnist", data_dir=str(data), epochs=epochs, batch_size=64, calib_images=32
    )
    torch.manual_seed(0)
    save_checkpoint(
        root / "supernet", ElasticMobileNetV2(space, num_classes=10, in_chans=1), config, epoch=1, step=1
    )
    for i, (arch, budget, acc) in enumerate(((space.smallest(), 0.05, 0.4), (space.largest(), 0.3, 0.6))):
        card = {"search": {"budget": budget}, "arch_string": str(arch), "accuracy": {"test": acc}}
        (root / "deploy" / f"b{i}").mkdir(parents=True)
        (root / "deploy" / f"b{i}" / "card.json").write_text(json.dumps(card))
    scratch = {"test_acc": 0.25, "epochs": [{"val_acc": 0.2, "cpu_time_s": 1.0}] * epochs}
    (root / "scratch").mkdir()
    (root / "scratch" / "small.json").write_text(json.dumps(scratch))
    return root, data


def _check(script: str, *args: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(EXPERIMENTS / script), *args], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_budget_check_trains_the_small_arch_at_factor_times_the_schedule(tmp_path):
    root, data = _toy_run(tmp_path, epochs=1)
    out = tmp_path / "budget.md"
    _check(
        "budget_check.py", "--run", str(root), "--data", str(data), "--epochs", "1", "--factor", "2",
        "--batch-size", "64", "--out", str(out),
    )  # fmt: skip
    trained = json.loads((root / "budget" / "small-x2.json").read_text())
    assert len(trained["epochs"]) == 2 and 0 <= trained["test_acc"] <= 1  # 2x the epochs, tested
    rows = [ln.split(" | ") for ln in out.read_text().splitlines() if ln.startswith("| 0 |")]
    assert [r[1] for r in rows] == ["1", "2"]  # the run's own result (from its scratch stage), then x2
    assert rows[0][2] == "25.00" and rows[1][2] == f"{100 * trained['test_acc']:.2f}"
    gain = 100 * (trained["test_acc"] - 0.25)
    assert f"Gain from x2 the budget, per seed: **{gain:+.2f} points**" in out.read_text()


def test_budget_check_trains_the_arch_its_scratch_stage_named(tmp_path):
    """A run whose scratch stage trained another run's pick (--scratch-archs) names that arch in its JSON:
    the check trains it again, not the run's own small pick, in the space given by --space."""
    root, data = _toy_run(tmp_path, epochs=1)
    space = SearchSpace.preset("mbv2-small")
    card = {"search": {"budget": 0.01}, "arch_string": str(space.largest()), "accuracy": {"test": 0.5}}
    (root / "deploy" / "b9").mkdir()
    (root / "deploy" / "b9" / "card.json").write_text(json.dumps(card))  # now the run's own small pick
    scratch = json.loads((root / "scratch" / "small.json").read_text())
    (root / "scratch" / "small.json").write_text(json.dumps({**scratch, "arch": str(space.smallest())}))
    out = tmp_path / "budget.md"
    _check(
        "budget_check.py", "--run", str(root), "--data", str(data), "--epochs", "1", "--factor", "2",
        "--batch-size", "64", "--space", "mbv2-small", "--out", str(out),
    )  # fmt: skip
    trained = json.loads((root / "budget" / "small-x2.json").read_text())
    smallest = build_subnet(space, space.smallest(), 10, 1)
    assert trained["params"] == sum(p.numel() for p in smallest.parameters())
    assert f"(`{space.smallest()}`)" in out.read_text()


def test_budget_check_refuses_a_run_of_other_epochs(tmp_path):
    root, data = _toy_run(tmp_path, epochs=1)
    cmd = [sys.executable, str(EXPERIMENTS / "budget_check.py"), "--run", str(root), "--data", str(data)]
    proc = subprocess.run(
        [*cmd, "--epochs", "3", "--out", str(tmp_path / "x.md")], capture_output=True, text=True
    )
    assert proc.returncode != 0 and "did not run --epochs 3" in proc.stderr
    assert not (tmp_path / "x.md").exists()


def test_finetune_check_tunes_the_inherited_weights_of_each_pick(tmp_path):
    root, _ = _toy_run(tmp_path, epochs=1)
    out = tmp_path / "finetune.md"
    _check("finetune_check.py", "--run", str(root), "--epochs", "1", "--out", str(out))
    rows = {ln.split(" | ")[0]: ln.split(" | ") for ln in out.read_text().splitlines() if ln.startswith("| ")}
    # two cards: small = the first, middle = large = the second (picks by budget)
    assert set(rows) >= {"| small", "| middle", "| large"}
    assert rows["| small"][1] == "40.00" and rows["| large"][1] == "60.00"  # inherited, from the cards
    assert rows["| small"][3] == "25.00" and rows["| large"][3] == "-"  # from scratch where it ran
    for tag in ("small", "middle", "large"):
        tuned = json.loads((root / "finetune" / f"{tag}-e1.json").read_text())
        assert rows[f"| {tag}"][2] == f"{100 * tuned['test_acc']:.2f}"
    assert "constant lr 0.005" in out.read_text()  # the run's lr 0.1 x its 5% floor
