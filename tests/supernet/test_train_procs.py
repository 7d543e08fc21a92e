"""Local multi-process training (`--nproc-per-node`): how N is chosen, and that N processes train correctly."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from supernet.errors import SupernetError
from supernet.train import procs
from supernet.train.config import TrainConfig
from supernet_cli import main
from tests.proc_table import cmdline, descendants, gone
from tests.supernet.test_train_trainer import TINY


@pytest.mark.parametrize(
    "cores, requested, threads, images, device, expected",
    [
        ((2, 2), "auto", None, 54000, "auto", (2, 1)),  # idle 2-core machine, big data: one process per core
        ((2, 1), "auto", None, 54000, "cpu", (1, 1)),  # one core busy: stay in one process
        ((8, 8), "auto", None, 54000, "cpu", (4, 2)),  # 64 / 4 = 16 images per process at least
        ((3, 3), "auto", None, 54000, "cpu", (2, 1)),  # 3 does not divide 64
        ((8, 8), "auto", None, 64 * 7, "cpu", (1, 8)),  # 7 steps per epoch: start-up is not repaid
        ((2, 2), "auto", None, 300, "cpu", (1, 2)),
        ((2, 2), "auto", None, 54000, "cuda", (1, 2)),  # a GPU trains in one process
        ((2, 2), "4", None, 300, "cpu", (4, 1)),  # an explicit count is obeyed
        ((2, 2), "2", 4, 300, "cpu", (2, 4)),
    ],
)
def test_choose_procs(monkeypatch, cores, requested, threads, images, device, expected):
    monkeypatch.setattr(procs, "free_cores", lambda: cores)
    choice = procs.choose_procs(requested, threads, images, 64, device)
    assert (choice.nproc, choice.threads) == expected
    assert choice.reason  # the log line says why


def test_explicit_count_must_divide_the_batch(monkeypatch):
    monkeypatch.setattr(procs, "free_cores", lambda: (2, 2))
    with pytest.raises(SupernetError, match="must divide --batch-size 64"):
        procs.choose_procs("3", None, 54000, 64, "cpu")
    with pytest.raises(
        SupernetError, match="leaves each process 1 image of --batch-size 64; BatchNorm needs"
    ):
        procs.choose_procs("64", None, 54000, 64, "cpu")  # divides 64, but a batch of 1 per BatchNorm
    assert procs.choose_procs("32", None, 54000, 64, "cpu").nproc == 32  # 2 each: allowed


def test_more_threads_than_cores_is_allowed_and_said(monkeypatch):
    monkeypatch.setattr(procs, "free_cores", lambda: (2, 2))
    assert "threads on" not in procs.choose_procs("2", None, 54000, 64, "cpu").reason
    assert (
        "(4 threads on 2 cores: they will share them"
        in procs.choose_procs("4", None, 54000, 64, "cpu").reason
    )
    assert "(6 threads on 2 cores" in procs.choose_procs("2", 3, 54000, 64, "cpu").reason


def _argv(tmp_path, out, *extra):
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY)
    return ["train", "--space", str(space), "--dataset", "synthetic", "--img-size", "16", "--batch-size", "16",
            "--calib-images", "32", "-q", "--out", str(out), *extra]  # fmt: skip


def test_two_processes_train_deterministically_and_resume(tmp_path, capfd):
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        assert main(_argv(tmp_path, out, "--epochs", "1", "--nproc-per-node", "2")) == 0
    printed = capfd.readouterr()  # the file descriptors: what the training processes printed too
    assert "2 process(es) x 1 thread(s), global batch 16" in printed.err
    assert "test accuracy smallest" in printed.out
    both = printed.out + printed.err
    assert both.count("epoch 1/1 loss") == 2  # rank 0 alone reports each epoch (once per run here)
    assert "Computing precise BN" not in both and "Traceback" not in both
    a, b = (load_file(next(out.glob("weights-*.safetensors"))) for out in outs)
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)  # bit-identical runs
    ckpt = json.loads((outs[0] / "checkpoint.json").read_text())
    # 288 training images in global batches of 16 (8 per process): as many steps as in one process
    assert ckpt["meta"]["world_size"] == 2 and ckpt["step"] == 288 // 16
    records = [json.loads(x) for x in (outs[0] / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if "loss" in r] == [1] and records[-1]["final"]
    assert all(r["cpu_time_s"] > 0 for r in records if "loss" in r)  # both processes' CPU time
    # auto on resume keeps the process count the run was trained with, whatever the load is now
    assert main(_argv(tmp_path, outs[0], "--epochs", "2", "--resume")) == 0
    assert "2 process(es)" in capfd.readouterr().err
    ckpt = json.loads((outs[0] / "checkpoint.json").read_text())
    assert ckpt["epoch"] == 2 and ckpt["step"] == 2 * (288 // 16)


def test_worker_errors_are_one_line(tmp_path, capsys):
    argv = _argv(tmp_path, tmp_path / "run", "--nproc-per-node", "2")
    argv[argv.index("synthetic")] = "fashion-mnist"
    del argv[argv.index("--img-size") : argv.index("--img-size") + 2]  # the in-memory sets keep their size
    assert main([*argv, "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Fashion-MNIST not found" in err
    with pytest.raises(SystemExit) as exit_info:
        main(_argv(tmp_path, tmp_path / "run2", "--nproc-per-node", "0"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--nproc-per-node" in err and "'auto' or an integer >= 1" in err


def test_run_data_is_the_trainers_train_split():
    assert len(procs.run_data(TrainConfig(dataset="digits")).train) == 1294


@pytest.mark.parametrize("nproc", ["auto", "1"])
def test_one_process_opens_the_data_set_once(tmp_path, capsys, monkeypatch, nproc):
    """auto counts the training images and one process trains on that same bundle (no second open)."""
    import supernet.train.data as data
    import supernet.train.trainer as trainer

    opened = []
    real = data.load_data

    def counting(*args, **kwargs):
        opened.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(data, "load_data", counting)
    monkeypatch.setattr(trainer, "load_data", counting)
    monkeypatch.setattr(procs, "free_cores", lambda: (2, 1))
    assert main(_argv(tmp_path, tmp_path / "run", "--epochs", "1", "--nproc-per-node", nproc)) == 0
    assert opened == ["synthetic"]
    err = capsys.readouterr().err
    assert "1 process(es)" in err
    assert "depthwise weight gradient: " + ("the C kernel" if shutil.which("cc") else "PyTorch's") in err


def test_the_line_says_when_the_c_kernel_is_switched_off(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SUPERNET_DW_GRAD", "torch")
    assert main(_argv(tmp_path, tmp_path / "run", "--epochs", "1", "--nproc-per-node", "1")) == 0
    err = capsys.readouterr().err
    assert "depthwise weight gradient: PyTorch's (SUPERNET_DW_GRAD=torch)" in err
    assert "BN calibration on all" not in err  # 32 calibration images: the split has them
    train = len(procs.run_data(TrainConfig(dataset="synthetic", img_size=16)).train)
    assert (
        main(
            _argv(
                tmp_path,
                tmp_path / "run2",
                "--epochs",
                "1",
                "--nproc-per-node",
                "1",
                "--calib-images",
                "5000",
            )
        )
        == 0
    )
    assert (
        f"; BN calibration on all {train} training images (calib_images 5000 is more)"
        in capsys.readouterr().err
    )


def test_the_line_says_when_slicing_is_plain_autograd_and_refuses_other_values(tmp_path, capsys, monkeypatch):
    from supernet import _alias

    previous = _alias.use_alias(True)
    try:
        monkeypatch.setenv("SUPERNET_SLICE", "autograd")
        assert main(_argv(tmp_path, tmp_path / "run", "--epochs", "1", "--nproc-per-node", "1")) == 0
        assert "sliced weights: plain autograd slicing (SUPERNET_SLICE=autograd)" in capsys.readouterr().err
        monkeypatch.setenv("SUPERNET_SLICE", "views")
        assert main(_argv(tmp_path, tmp_path / "other", "--epochs", "1", "--nproc-per-node", "1")) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [
            "supernet train: error: SUPERNET_SLICE='views': expected 'alias' (the default) or 'autograd'"
        ]
        assert not (tmp_path / "other").exists()
    finally:
        _alias.use_alias(previous)


@pytest.mark.parametrize("nproc", ["auto", "1"])
def test_a_bad_data_path_is_one_line_in_one_process(tmp_path, capsys, nproc):
    argv = _argv(tmp_path, tmp_path / "run", "--nproc-per-node", nproc)
    argv[argv.index("synthetic")] = "fashion-mnist"
    del argv[argv.index("--img-size") : argv.index("--img-size") + 2]  # the in-memory sets keep their size
    assert main([*argv, "--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Fashion-MNIST not found" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads process parents from /proc")
def test_workers_die_with_a_killed_parent(tmp_path):
    """kill -9 of `supernet train` must not leave its ranks training on (and writing) in the background."""
    argv = [sys.executable, "-m", "supernet_cli", *_argv(tmp_path, tmp_path / "run", "--epochs", "50")]
    argv += ["--nproc-per-node", "2"]
    parent = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, workers = time.monotonic() + 120, []
        while len(workers) < 2 and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.2)
            workers = [p for p in descendants(parent.pid) if "spawn_main" in cmdline(p)]
        assert len(workers) == 2, "the two training processes did not start"
    finally:
        parent.kill()
        parent.wait()
    assert gone(workers, 10), f"ranks {workers} outlived their killed parent"


@pytest.mark.parametrize("platform", ["linux", "other"])
def test_die_with_parent_by_signal_or_watchdog(platform):
    """A process that arms `die_with_parent` exits soon after its parent does (prctl on Linux, else a
    polling thread), and at once when its parent is already gone."""
    child = (
        "import sys, time; from supernet.train import procs; "
        f"sys.platform = {'linux' if platform == 'linux' else 'other'!r}; "
        "import os; procs.die_with_parent(os.getppid()); print('armed', flush=True); time.sleep(60)"
    )
    middle = (  # starts the child, reports its pid, and dies without waiting for it
        "import os, subprocess, sys; "
        f"p = subprocess.Popen([sys.executable, '-c', {child!r}], stdout=subprocess.PIPE, text=True); "
        "print(p.pid, p.stdout.readline().strip(), flush=True); os._exit(0)"
    )
    out = subprocess.run([sys.executable, "-c", middle], capture_output=True, text=True, timeout=60)
    pid, armed = out.stdout.split()
    assert armed == "armed"
    assert gone([int(pid)], 5), "the child outlived its parent"
    orphan = subprocess.run(
        [sys.executable, "-c", "from supernet.train import procs; procs.die_with_parent(1); print('alive')"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert orphan.returncode == 1 and "alive" not in orphan.stdout  # its parent is not pid 1: already "dead"
