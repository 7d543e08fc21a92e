"""`supernet extract` / `supernet export` end to end on a random-init checkpoint, and bad input: one line,
exit code 2, nothing written."""

import json

import pytest
import torch

from latency.build import count_table
from supernet import ElasticMobileNetV2, SearchSpace
from supernet.train.checkpoint import save_checkpoint
from supernet.train.config import TrainConfig
from supernet_cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory, space):
    """A checkpoint on the synthetic data set (3 channels, 16 px) and tables: MMACs, and a stand-in
    `ort-cpu` table (the MMACs entries under another name) so the measured path runs without a slow build."""
    root = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    model = ElasticMobileNetV2(space, num_classes=10, in_chans=3)
    config = TrainConfig(dataset="synthetic", img_size=16, calib_images=64, out=str(root / "ck"))
    save_checkpoint(root / "ck", model, config, epoch=1, step=1)
    table = count_table(space, "macs", 3, 10)
    table.save(root / "macs.json")
    table.target, table.provider = "ort-cpu", "CPUExecutionProvider"
    table.save(root / "ort.json")
    other = SearchSpace.from_dict({**space.to_dict(), "resolutions": [24, 28]})
    count_table(other, "macs", 3, 10).save(root / "other-space.json")
    count_table(space, "macs", 1, 10).save(root / "one-channel.json")
    return root


def test_extract_ships_a_verified_model_under_the_budget(run, tmp_path, capsys):
    out = tmp_path / "deploy"
    argv = ["extract", "--checkpoint", str(run / "ck"), "--lut", str(run / "ort.json"), "--budget-ms", "6"]
    assert main([*argv, "--out", str(out), "--evals", "6", "--int8", "--quiet"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {
        "model.onnx",
        "model.int8.onnx",
        "card.json",
        "arch.json",
        "search.json",
        "pareto.md",
        "pareto.png",
    } <= names
    card = json.loads((out / "card.json").read_text())
    assert card["latency"]["predicted"] <= 6 and card["latency"]["measured_ms"] > 0
    assert card["int8"]["measured_ms"] > 0
    assert card["latency"]["stat"] == "median" and card["latency"]["precision"] == "fp32"
    assert card["search"]["budget"] == 6 and card["search"]["num_evals"] == 6
    assert (
        card["source"]["weights_sha256"]
        == json.loads((run / "ck" / "checkpoint.json").read_text())["weights_sha256"]
    )
    search = json.loads((out / "search.json").read_text())
    assert len(search["history"]) == 6 and search["best"]["6"]["score"] == max(
        h["score"] for h in search["history"]
    )
    assert str(out / "model.onnx") in capsys.readouterr().out


def test_several_budgets_share_one_search(run, tmp_path, capsys):
    out = tmp_path / "deploy"
    argv = ["extract", "--checkpoint", str(run / "ck"), "--lut", str(run / "macs.json"), "--budget", "6,3"]
    assert main([*argv, "--out", str(out), "--evals", "6", "--strategy", "random", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1  # --json: one machine-readable line on stdout, the rest went to stderr
    summary = json.loads(lines[0])
    assert summary["command"] == "extract" and summary["unit"] == "MMACs" and summary["num_evals"] == 6
    assert sorted(m["budget"] for m in summary["models"]) == [3, 6]
    for budget in (3, 6):
        card = json.loads((out / f"budget-{budget}MMACs" / "card.json").read_text())
        assert card["latency"]["predicted"] <= budget and card["latency"]["unit"] == "MMACs"
        assert card["search"]["unit"] == "MMACs"
    table = (out / "pareto.md").read_text().splitlines()
    assert len(table) == 4 and table[2].startswith("| 3 |") and table[3].startswith("| 6 |")
    assert len(json.loads((out / "search.json").read_text())["history"]) == 6


def test_resume_reuses_earlier_scores_for_free(run, tmp_path):
    out = tmp_path / "deploy"
    argv = [
        "extract",
        "--checkpoint",
        str(run / "ck"),
        "--lut",
        str(run / "macs.json"),
        "--out",
        str(out),
        "--quiet",
    ]
    assert main([*argv, "--budget", "5", "--unit", "mmacs", "--evals", "3"]) == 0
    first = json.loads((out / "search.json").read_text())
    assert main([*argv, "--budget", "5", "--evals", "2", "--resume"]) == 0
    second = json.loads((out / "search.json").read_text())
    assert [(p["arch"], p["score"]) for p in second["previous"]] == [
        (h["arch"], h["score"]) for h in first["history"]
    ]
    assert second["num_evals"] == 2
    assert {json.dumps(h["arch"]) for h in second["history"]}.isdisjoint(
        {json.dumps(h["arch"]) for h in first["history"]}
    )
    assert second["best"]["5"]["score"] >= first["best"]["5"]["score"]


def test_export_a_given_arch(run, tmp_path, space, capsys):
    out = tmp_path / "deploy"
    arch = space.smallest()
    argv = ["export", "--checkpoint", str(run / "ck"), "--arch", str(arch), "--out", str(out)]
    assert main([*argv, "--lut", str(run / "macs.json"), "--device", "cpu", "--calib-images", "100000"]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["arch_string"] == str(arch) and card["latency"]["target"] == "macs"
    assert card["bn_calibration"]["device"] == "cpu"
    used = card["bn_calibration"]["images"]  # more than the split holds: all of it, and said so
    note = (
        f"note: --calib-images 100000 is more than the {used} images of the training split; using all {used}"
    )
    assert used < 100000 and note in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_search_on_the_gpu_scores_and_ships_what_the_cpu_does(run, tmp_path):
    """--device cuda: archs scored on the GPU match the CPU's scores; the shipped file is still verified
    against PyTorch on the CPU."""
    argv = ["extract", "--checkpoint", str(run / "ck"), "--lut", str(run / "macs.json"), "--budget", "5"]
    searches = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / device
        flags = ["--evals", "4", "--strategy", "random", "--device", device, "--quiet"]  # archs drawn by seed
        assert main([*argv, "--out", str(out), *flags]) == 0
        searches[device] = json.loads((out / "search.json").read_text())["history"]
        card = json.loads((out / "card.json").read_text())
        assert card["bn_calibration"]["device"] == device
        assert card["verification"]["parity_max_abs_diff"] <= card["verification"]["parity_atol"]
    assert [h["arch"] for h in searches["cuda"]] == [h["arch"] for h in searches["cpu"]]
    for gpu, cpu in zip(searches["cuda"], searches["cpu"]):
        assert abs(gpu["score"] - cpu["score"]) <= 0.02  # a few images' ties may flip on another device


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--lut", "{run}/macs.json", "--budget", "0.5"],
            "below the smallest subnet's predicted latency 1.",
        ),
        (
            ["--lut", "{run}/other-space.json", "--budget", "5"],
            "table was built for space mbv2-small (fingerprint",
        ),
        (
            ["--lut", "{run}/macs.json", "--budget", "5", "--target", "ort-cpu"],
            "table is for target macs, not ort-cpu",
        ),
        (["--lut", "{run}/one-channel.json", "--budget", "5"], "built for 1 input channels"),
        (["--lut", "{run}/missing.json", "--budget", "5"], "latency table not found"),
        (["--lut", "{run}/macs.json", "--budget", "fast"], "--budget must be numbers"),
        (["--lut", "{run}/macs.json", "--budget", "5", "--strategy", "grid"], "unknown --strategy 'grid'"),
        (
            ["--lut", "{run}/macs.json", "--budget-ms", "5"],
            "--budget-ms is in ms but the latency table predicts MMACs; use --budget X --unit mmacs",
        ),
        (
            ["--lut", "{run}/macs.json", "--budget", "5", "--unit", "ms"],
            "--budget is in ms but the latency table predicts MMACs",
        ),
        (["--lut", "{run}/macs.json", "--budget", "5", "--unit", "fps"], "unknown --unit 'fps'"),
        (["--lut", "{run}/macs.json"], "give the latency budget once"),
        (["--lut", "{run}/macs.json", "--budget", "5", "--budget-ms", "5"], "give the latency budget once"),
        (["--lut", "{run}/macs.json", "--budget", "inf"], "--budget must be positive finite numbers"),
        (["--lut", "{run}/macs.json", "--budget", "5", "--device", "gpu"], "--device 'gpu' is unknown"),
        (["--lut", "{run}/macs.json", "--budget", "5", "--device", "cuda:64"], "this machine has"),
        (
            ["--lut", "{run}/macs.json", "--budget", "5", "--provider", "CPUExecutionProvider"],
            "--provider applies to onnxruntime latency tables (ort-cpu, ort-cpu-int8), and",
        ),
        (["--lut", "{run}/macs.json", "--budget", "5,2,5"], "--budget lists 5 more than once"),
        (["--lut", "{run}/macs.json", "--budget", "2,,5"], "--budget has an empty item (two commas in a row"),
        (["--lut", "{run}/macs.json", "--budget-ms", "2,"], "--budget-ms has an empty item"),
        (["--lut", "{run}/macs.json", "--budget", ","], "--budget must be positive finite numbers"),
    ],
)
def test_bad_extract_input_is_one_line_exit_2_and_writes_nothing(run, tmp_path, capsys, args, message):
    out = tmp_path / "deploy"
    argv = ["extract", "--checkpoint", str(run / "ck"), "--out", str(out), "--quiet"]
    assert main([*argv, *(a.format(run=run) for a in args)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert list(tmp_path.iterdir()) == []


def test_export_into_the_training_run_is_refused(run, capsys, space):
    before = sorted(p.name for p in (run / "ck").iterdir())
    for checkpoint in (run / "ck", run / "ck" / "checkpoint.json"):
        argv = ["export", "--checkpoint", str(checkpoint), "--arch", str(space.smallest()), "--overwrite"]
        assert main([*argv, "--out", str(run / "ck")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "is the training run of --checkpoint" in err[0]
    assert sorted(p.name for p in (run / "ck").iterdir()) == before


def test_export_refuses_a_provider_without_a_table(run, tmp_path, capsys, space):
    arch = str(space.smallest())
    argv = ["export", "--checkpoint", str(run / "ck"), "--arch", arch, "--out", str(tmp_path / "d")]
    assert main([*argv, "--provider", "CPUExecutionProvider"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and "--provider names the onnxruntime provider of a latency table: give --lut" in err[0]
    )
    assert list(tmp_path.iterdir()) == []


def test_missing_checkpoint_and_foreign_arch(run, tmp_path, capsys):
    out = tmp_path / "deploy"
    argv = [
        "extract",
        "--checkpoint",
        str(tmp_path / "nope"),
        "--lut",
        str(run / "macs.json"),
        "--budget",
        "5",
    ]
    assert main([*argv, "--out", str(out)]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
    argv = ["export", "--checkpoint", str(run / "ck"), "--arch", "r40_w1d1k3e3", "--out", str(out)]
    assert main(argv) == 2
    assert "resolution=40 is not in the search space" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_extract_refuses_a_table_of_another_precision_or_provider(run, tmp_path, capsys):
    """An int8 table budgets the int8 model (needs --int8); a table timed on another onnxruntime provider
    budgets another device's latency: both refused in one line before anything runs."""
    from latency.table import LatencyTable

    table = LatencyTable.load(run / "ort.json")
    table.target, table.provider = "ort-cpu-int8", "CPUExecutionProvider"
    table.save(tmp_path / "int8.json")
    argv = [
        "extract",
        "--checkpoint",
        str(run / "ck"),
        "--budget-ms",
        "6",
        "--out",
        str(tmp_path / "d"),
        "--quiet",
    ]
    assert main([*argv, "--lut", str(tmp_path / "int8.json")]) == 2
    assert "pass --int8" in capsys.readouterr().err
    assert (
        main([*argv, "--lut", str(tmp_path / "int8.json"), "--int8", "--provider", "CUDAExecutionProvider"])
        == 2
    )
    err = capsys.readouterr().err
    assert "timed on onnxruntime provider CPUExecutionProvider, not CUDAExecutionProvider" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "d").exists()


def test_a_killed_search_resumes_from_its_journal_and_logs_what_a_straight_run_logs(
    run, tmp_path, monkeypatch, capsys
):
    import extract.pipeline as pipeline

    argv = ["extract", "--checkpoint", str(run / "ck"), "--lut", str(run / "macs.json"), "--budget", "5",
            "--evals", "5", "--quiet"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "straight")]) == 0
    real = pipeline.score_fn

    def dies_after_three(model, data):
        score, calls = real(model, data), []

        def counted(arch):
            if len(calls) == 3:
                raise KeyboardInterrupt  # stands in for a kill: nothing after this point runs
            calls.append(arch)
            return score(arch)

        return counted

    monkeypatch.setattr(pipeline, "score_fn", dies_after_three)
    out = tmp_path / "killed"
    assert main([*argv, "--out", str(out)]) == 130
    assert not (out / "search.json").exists() and (out / "search.journal.jsonl").is_file()
    assert not list(out.glob(".staging-*")) and not (out / ".lock").exists()
    monkeypatch.undo()
    capsys.readouterr()
    assert main([*argv, "--out", str(out)]) == 0  # the same command, no flag: it resumes
    assert "resuming a killed search: 3 scores" in capsys.readouterr().out
    assert (out / "search.json").read_text() == (tmp_path / "straight" / "search.json").read_text()
    assert not (out / "search.journal.jsonl").exists()


def test_extract_overwrite_leaves_only_this_runs_exports(run, tmp_path):
    out = tmp_path / "deploy"
    argv = ["extract", "--checkpoint", str(run / "ck"), "--lut", str(run / "macs.json"), "--out", str(out),
            "--evals", "4", "--quiet"]  # fmt: skip
    assert main([*argv, "--budget", "3,6", "--strategy", "random"]) == 0
    assert main([*argv, "--budget", "5"]) == 2  # a finished extract is not replaced by accident
    assert main([*argv, "--budget", "5", "--overwrite"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["arch.json", "card.json", "model.json", "model.onnx", "model.safetensors", "pareto.md",
                     "pareto.png", "search.json"]  # fmt: skip
