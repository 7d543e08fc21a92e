"""experiments/full_report.py on a synthetic run directory: costs, plateau, collapse, goals, commands."""

import json
import sys
from argparse import Namespace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))

from full_report import write_report  # noqa: E402


def _w(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _card(budget, arch, acc, macs):
    return {
        "search": {"budget": budget},
        "accuracy": {"test": acc},
        "latency": {"predicted": budget * 0.9},
        "macs": macs,
        "arch_string": arch,
    }


def _static(acc, vals, seconds):
    epochs = [{"epoch": i + 1, "val_acc": v, "epoch_time_s": seconds} for i, v in enumerate(vals)]
    return {"test_acc": acc, "epochs": epochs, "processes": 1, "macs": 7e6, "params": 4e5}


def test_report_from_a_run_directory(tmp_path):
    root = tmp_path / "run"
    metrics = [
        {"epoch": e, "epoch_time_s": 1800.0, "val_acc_largest": v}
        for e, v in ((1, 0.8), (2, 0.9), (3, 0.901))
    ]
    metrics += [{"final": True, "epoch": 3, "test_acc_smallest": 0.9, "test_acc_largest": 0.935}]
    (root / "supernet").mkdir(parents=True)
    (root / "supernet" / "metrics.jsonl").write_text("\n".join(json.dumps(m) for m in metrics))
    _w(root / "supernet" / "config.json", {"epochs": 3, "inplace_distill": False})
    _w(root / "deploy" / "b0" / "card.json", _card(0.1, "r24_a", 0.90, 2e6))
    _w(root / "deploy" / "b1" / "card.json", _card(0.2, "r24_a", 0.90, 2e6))  # collapsed onto b0's arch
    _w(root / "deploy" / "b2" / "card.json", _card(0.4, "r32_b", 0.94, 9e6))
    _w(root / "baselines" / "mbv2_0.35.json", _static(0.92, [0.5, 0.9, 0.91, 0.902], 900.0))
    _w(
        root / "baselines" / "mbv2_1.json",
        {**_static(0.95, [0.5, 0.9, 0.93, 0.94], 3600.0), "note": "from run B"},
    )
    _w(
        root / "latency_measured.json",
        {
            "ms": {
                "deploy/b0": 0.1,
                "deploy/b1": 0.1,
                "deploy/b2": 0.35,
                "baselines/mbv2_0.35": 0.3,
                "baselines/mbv2_1": 1.0,
            },
            "threads": 1,
            "stat": "median",
            "rounds": 5,
        },
    )
    _w(
        root / "scratch" / "small.json",
        {**_static(0.91, [0.8, 0.9, 0.91], 600.0), "arch": "r24_a", "budget": 0.1},
    )
    _w(
        root / "commands.json",
        {"lut": {"command": "bench supernet latency build ...", "load": "load average: 0.4"}},
    )
    results = tmp_path / "new" / "results"  # created by the report
    args = Namespace(
        train_images=0,
        epochs=3,
        batch_size=128,
        lr=0.2,
        seed=0,
        ablation_seeds=2,
        seeds=5,
        nproc=2,
        evals=60,
        results=str(results),
        name="fm",
    )
    text = write_report(root, args).read_text()
    assert (results / "fm.png").is_file()
    # supernet: 3 epochs x 0.5 h x 2 processes; moved 10.1 points over its last 2 epochs
    # (no CPU time recorded anywhere: wall time x processes)
    assert (
        "| supernet (one run; largest subnet's val) | 2 | 3 | 3.00 | wall x processes | 10.10 | no |" in text
    )
    # x0.35: last three 0.9, 0.91, 0.902 -> 1.0 point; x1: 0.9..0.94 -> 4 points; family 1 h + 4 h
    assert "| MobileNetV2 x0.35 alone | 1 | 4 | 1.00 | wall x processes | 1.00 | no |" in text
    assert "**5.00**" in text
    assert "Neighbouring budgets that chose the same arch: 0.1 and 0.2 ms." in text
    assert "Notes:\n- MobileNetV2 x1 alone: from run B\n" in text  # a result's own note, under the table
    # the supernet's largest subnet 93.5% >= 93; x0.35 at 0.3 ms: best subnet as fast is 90% (-2 points, missed);
    # x1 at 1.0 ms: 94% vs 95% (-1 point, missed)
    assert "(the supernet's largest subnet): 93.50%, **met**" in text
    assert "-2.00 points (MISSED)" in text and "-1.00 points (MISSED)" in text
    # inherited 90% vs scratch 91%: -1 point, beyond the 0.5 allowed
    assert "| -1.00 |" in text and "0 of 1 met" in text
    assert "`bench supernet latency build ...` | load average: 0.4 |" in text
    assert "Not run yet: ablations, search." in text
    assert "NOT measured here" in text and "ResNet-18: 94.9%" in text
    assert "The supernet ran with in-place distillation off." in text  # from its saved config
    # a longer run that leaves ablations and the search comparison to another report links to it instead
    text = write_report(root, Namespace(**vars(args), sections_from="fm12")).read_text()
    assert "Not run yet" not in text
    assert "Not part of this run: see section 3 of [fm12.md](fm12.md)." in text
    assert "Not part of this run: see section 4 of [fm12.md](fm12.md)." in text


def test_supernet_cpu_time_from_the_monitor_log_and_static_cpu_time(tmp_path):
    """Epochs 1-2 trained before any CPU measurement, 3-4 under `cpu_monitor.sh` (its process started after
    epoch 2's resume: 7200 CPU-s for 2 epochs) -> 3600 s each, epochs 1-2 counted at that mean."""
    from full_cost import static_cost, supernet_epoch_cpu

    root = tmp_path / "run"
    lines = [{"epoch": e, "epoch_time_s": 99.0, "val_acc_largest": 0.9} for e in (1, 2)]
    lines += [{"event": "resume", "epoch": 2}]
    lines += [{"epoch": e, "epoch_time_s": 99.0, "val_acc_largest": 0.9} for e in (3, 4)]
    (root / "supernet").mkdir(parents=True)
    (root / "supernet" / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    (root / "supernet_cpu.log").write_text("10 3 5.0\n30 4 3000.0\n50 5 7200.0\n")
    epochs = [x for x in lines if "epoch_time_s" in x]
    assert supernet_epoch_cpu(root, epochs) == [None, None, 3600.0, 3600.0]
    # the trainer's own per-epoch CPU time wins over the monitor
    assert supernet_epoch_cpu(root, [{**r, "cpu_time_s": 5.0} for r in epochs]) == [5.0] * 4
    hours, how = static_cost({**_static(0.9, [0.9, 0.9], 9999.0), "processes": 1})
    assert how == "wall x processes"
    result = _static(0.9, [0.9, 0.9], 9999.0)
    result["epochs"] = [{**h, "cpu_time_s": 1800.0} for h in result["epochs"]]
    assert static_cost(result) == (1.0, "CPU time")


def test_a_missed_largest_goal_links_its_targeted_check(tmp_path):
    from full_report import check_link, goal_lines

    final = {"test_acc_largest": 0.9117}
    md = tmp_path / "fm_budget.md"
    assert check_link(md) is None  # no check written yet: no link
    md.write_text("# Targeted check (issue 11): the same arch at 2x the training budget\n\nCommand: ...\n")
    link = check_link(md)
    assert link == ("fm_budget.md", "the same arch at 2x the training budget")  # its own title
    missed = goal_lines([], [], 0, final, budget_check=link)[0]
    assert "91.17%, **missed**. Targeted check: [the same arch at 2x the training budget](fm_budget.md)." in (
        missed
    )
    assert "Targeted" not in goal_lines([], [], 0, final)[0]
    assert "Targeted" not in goal_lines([], [], 0, {"test_acc_largest": 0.95}, budget_check=link)[0]  # met


def _gpu_args(tmp_path: Path, name: str) -> Namespace:
    """The driver's options of a 3-epoch GPU run (batch 512), reported under `name`."""
    return Namespace(
        train_images=0, epochs=3, batch_size=512, lr=0.8, seed=0, ablation_seeds=2, seeds=5, nproc=0,
        evals=60, results=str(tmp_path / "results"), name=name,
    )  # fmt: skip


def test_gpu_run_reports_gpu_minutes_and_inherited_archs_from_stage_inherit(tmp_path):
    """A run trained on a GPU (gpu_check.sh) costs wall minutes on the shared GPU, and its from-scratch archs
    (another run's picks, --scratch-archs) get their inherited accuracy from stage inherit's cards."""
    root = tmp_path / "run"
    metrics = [
        {"epoch": e, "epoch_time_s": 12.0, "images_per_s": 4500.0, "val_acc_largest": v}
        for e, v in ((1, 0.918), (2, 0.921), (3, 0.922))
    ]
    metrics += [{"final": True, "epoch": 3, "test_acc_smallest": 0.9, "test_acc_largest": 0.93}]
    (root / "supernet").mkdir(parents=True)
    (root / "supernet" / "metrics.jsonl").write_text("\n".join(json.dumps(m) for m in metrics))
    _w(root / "supernet" / "config.json", {"epochs": 3, "device": "cuda"})
    _w(root / "deploy" / "b0" / "card.json", _card(0.1, "r24_a", 0.90, 2e6))
    _w(root / "inherit" / "small" / "card.json", _card(0.05, "r24_z", 0.905, 1e6))
    base = {**_static(0.92, [0.909, 0.91, 0.911], 30.0), "train_time_s": 90.0, "images_per_s": 9000.0}
    _w(root / "baselines" / "mbv2_0.35.json", base)
    scratch = {**_static(0.91, [0.8, 0.9], 20.0), "train_time_s": 30.0, "arch": "r24_z", "budget": 0.05}
    _w(root / "scratch" / "small.json", scratch)
    args = _gpu_args(tmp_path, "fm_gpu")
    text = write_report(root, args).read_text()
    assert "## Training cost (GPU minutes" in text
    assert "| supernet (one run; largest subnet's val) | 3 of 3 | 0.6 | 4500 | 0.40 | no |" in text
    assert "| MobileNetV2 x0.35 alone | 3 | 1.5 | 9000 | 0.20 | yes |" in text
    # inherited from stage inherit's card; cost in GPU minutes
    assert (
        "from-scratch GPU minutes |" in text
        and "| small `r24_z` | 0.05 | 90.50 | 91.00 | -0.50 | 0.50 |" in text
    )


def test_gpu_run_continued_on_cpu_costs_each_epoch_where_it_ran(tmp_path):
    """A GPU run resumed on a CPU (`--resume --device cpu` rewrites config.json): epochs recorded before
    the trainer wrote `device` take theirs from supernet_devices.json; the CPU epochs cost CPU-hours."""
    root = tmp_path / "run"
    metrics = [
        {"epoch": e, "epoch_time_s": 12.0, "images_per_s": 4500.0, "val_acc_largest": v}
        for e, v in ((1, 0.918), (2, 0.921))
    ]
    metrics += [{"event": "resume", "epoch": 2}]
    metrics += [
        {
            "epoch": 3,
            "epoch_time_s": 270.0,
            "images_per_s": 200.0,
            "val_acc_largest": 0.922,
            "cpu_time_s": 540.0,
        }
    ]
    (root / "supernet").mkdir(parents=True)
    (root / "supernet" / "metrics.jsonl").write_text("\n".join(json.dumps(m) for m in metrics))
    _w(root / "supernet" / "config.json", {"epochs": 3, "device": "cpu"})
    _w(root / "supernet_devices.json", {"1-2": "cuda", "3-3": "cpu"})
    # latency measured on another machine than the table's: the report says by how much and where
    _w(root / "deploy" / "b0" / "card.json", _card(0.1, "r24_a", 0.90, 2e6))  # predicted 0.09 ms
    (root / "deploy" / "b0" / "model.onnx").write_bytes(b"")
    _w(
        root / "latency_measured.json",
        {"ms": {"deploy/b0": 0.153}, "threads": 1, "stat": "median", "rounds": 5},
    )
    _w(root / "lut_ort-cpu.json", {"metadata": {"device": "CPU A", "date": "2026-11-30T05:19:23+00:00"}})
    _w(root / "commands.json", {"measure": {"command": "measure", "load": 0.26318359375}})
    args = _gpu_args(tmp_path, "fm_mixed")
    text = write_report(root, args).read_text()
    assert "## Training cost (GPU minutes" in text
    assert "| supernet (one run; largest subnet's val) | 2 of 3 | 0.4 | 4500 | 0.40 | no |" in text
    assert "| supernet, epochs continued on the CPU (CPU time) | 1 of 3 | 0.15 CPU-hours | 200 | | |" in text
    assert "Not run yet: no arch of this run trained from scratch." in text
    assert "median x1.70. The table was built on CPU A (2026-11-30)" in text
    assert "load: 0.26." in text and "| `measure` | 0.26 |" in text
    # the trainer's own record wins over the file
    metrics[-1]["device"] = "cuda"
    (root / "supernet" / "metrics.jsonl").write_text("\n".join(json.dumps(m) for m in metrics))
    assert "| 3 of 3 | 4.9 | 551 |" in write_report(root, args).read_text()
