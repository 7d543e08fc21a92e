"""Ray Train on a 2-CPU local cluster: identical ranks, single-process checkpoint format, fault tolerance."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from supernet.distributed.cluster import ClusterError, connect
from supernet.distributed.launch import RayConfig, train_distributed
from supernet.distributed.sync import weights_digest
from supernet.train.checkpoint import load_checkpoint
from supernet.train.config import TrainConfig
from supernet.train.data import DataError
from supernet.train.trainer import Trainer
from tests.proc_table import cmdline, descendants

TINY_SPACE = (Path(__file__).parents[2] / "spaces" / "tiny.yaml").read_text()


@pytest.fixture(scope="module")
def ray_cluster():
    """A local 2-CPU Ray cluster for this module; afterwards no Ray process of ours may be left."""
    import ray

    os.environ.pop("RAY_ADDRESS", None)
    connect(None, num_cpus=2)
    yield
    ray.shutdown()
    deadline = time.time() + 30
    while time.time() < deadline and [p for p in descendants(os.getpid()) if "ray" in cmdline(p)]:
        time.sleep(0.5)
    left = [cmdline(p)[:80] for p in descendants(os.getpid()) if "ray" in cmdline(p)]
    assert not left, f"Ray processes left running: {left}"


def _config(tmp_path: Path, **kw) -> TrainConfig:
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY_SPACE)
    base = dict(space=str(space), dataset="synthetic", img_size=16, epochs=1, batch_size=32, num_random=1,
                calib_images=32, calib_batch_size=32, out=str(tmp_path / "run"), progress=False)  # fmt: skip
    return TrainConfig(**{**base, **kw})


def test_two_workers_stay_bit_identical_and_write_a_single_process_run(ray_cluster, tmp_path):
    config = _config(tmp_path)
    final = train_distributed(config, RayConfig(workers=2, check_sync=True))

    steps = final["rank_digests"]  # parameter digests of both ranks before every step
    assert final["world_size"] == 2 and final["step"] == len(steps) == 4  # 288 images / (2 x 32)
    assert all(len(ranks) == 2 and ranks[0] == ranks[1] for ranks in steps)
    assert len({ranks[0] for ranks in steps}) == len(steps)  # and the weights moved every step

    # the run directory is an ordinary single-process run holding the ranks' common weights
    run = Path(config.out)
    ckpt = load_checkpoint(run)
    assert (ckpt.epoch, ckpt.step) == (1, 4)
    assert weights_digest(ckpt.model) == final["weights_sha256"]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["final"] and records[-1]["test_acc_largest"] == final["test_acc_largest"]
    assert json.loads((run / "config.json").read_text())["out"] == config.out

    # ... so a single process resumes it where Ray stopped
    resumed = Trainer(TrainConfig(**{**config.to_dict(), "epochs": 2, "resume": True}))
    assert (resumed.epoch, resumed.step) == (1, 4)
    assert weights_digest(resumed.model) == final["weights_sha256"]


def test_more_workers_than_cpus_fails_within_seconds(ray_cluster, tmp_path):
    start = time.perf_counter()
    with pytest.raises(ClusterError, match="--num-workers 3 needs 3 CPUs"):
        train_distributed(_config(tmp_path), RayConfig(workers=3))
    assert time.perf_counter() - start < 10


@pytest.mark.slow
def test_user_error_inside_a_worker_comes_back_as_one_line(ray_cluster, tmp_path):
    config = _config(tmp_path, dataset="fashion-mnist", img_size=None, data_dir=str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="Fashion-MNIST not found in") as info:
        train_distributed(config, RayConfig(workers=2, max_failures=0))
    assert "\n" not in str(info.value)


@pytest.mark.slow
def test_token_authentication_is_on_and_a_wrong_token_is_refused(ray_cluster):
    """Another process on this machine joins with the cluster's token; one with a wrong token cannot."""
    import ray

    assert os.environ.get("RAY_AUTH_MODE") == "token"  # what Ray set up for the local cluster
    address = ray.get_runtime_context().gcs_address
    code = f"from supernet.distributed.cluster import connect; print(connect({address!r})['CPU'])"
    joined = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert joined.stdout.strip().splitlines()[-1] == "2.0"

    env = {**os.environ, "RAY_AUTH_TOKEN": "not-the-cluster-token-0123456789"}
    start = time.perf_counter()
    refused = subprocess.run(
        [sys.executable, "-c", f"from supernet.distributed.cluster import connect; connect({address!r})"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert time.perf_counter() - start < 30
    assert refused.returncode != 0 and "rejected this client's token" in refused.stderr


@pytest.mark.slow
def test_killed_worker_resumes_from_last_checkpoint_and_single_process_run_resumes_on_ray(
    ray_cluster, tmp_path
):
    # one epoch in this process, then Ray continues the same run directory to epoch 4
    config = _config(tmp_path, epochs=1)
    torch.manual_seed(0)
    Trainer(config).fit()
    config = TrainConfig(**{**config.to_dict(), "epochs": 4, "resume": True})
    outcome = {}
    thread = threading.Thread(
        target=lambda: outcome.update(final=train_distributed(config, RayConfig(workers=2, max_failures=1)))
    )
    thread.start()

    # once Ray registered the epoch-2 checkpoint, kill one training worker (SIGKILL, no cleanup)
    snapshot = Path(config.out) / "ray" / "run" / "checkpoint_manager_snapshot.json"
    deadline = time.time() + 300
    while time.time() < deadline and not snapshot.is_file():
        time.sleep(0.2)
    assert snapshot.is_file(), "no checkpoint was reported"
    workers = [p for p in descendants(os.getpid()) if "RayTrainWorker" in cmdline(p)]
    assert workers, "no Ray Train worker process found"
    os.kill(workers[-1], signal.SIGKILL)
    thread.join(timeout=600)

    assert outcome["final"]["epoch"] == 4 and outcome["final"]["final"]
    records = [json.loads(line) for line in (Path(config.out) / "metrics.jsonl").read_text().splitlines()]
    resumes = [r["epoch"] for r in records if r.get("event") == "resume"]
    assert resumes[0] == 1  # the single-process checkpoint
    assert len(resumes) == 2 and resumes[1] >= 2  # after the kill: from epoch 2 or later, at most one lost
    epochs = [r["epoch"] for r in records if "loss" in r]
    assert epochs[-1] == 4 and set(epochs) == {1, 2, 3, 4}


def test_worker_config_paths_are_absolute(tmp_path, monkeypatch):
    """Ray workers run elsewhere: a space file or data folder relative to the driver's directory is made absolute."""
    from supernet.distributed.launch import absolute_paths

    monkeypatch.chdir(tmp_path)
    (tmp_path / "spaces").mkdir()
    given = TrainConfig(space="spaces/s.yaml", data_dir="data/x", out="runs/r")
    made = absolute_paths(given)
    assert made.space == str(tmp_path / "spaces/s.yaml") and made.data_dir == str(tmp_path / "data/x")
    assert absolute_paths(TrainConfig(space="mbv2-small")).space == "mbv2-small"  # a preset name stays a name
    assert absolute_paths(TrainConfig(data_dir="s3://bucket/d")).data_dir == "s3://bucket/d"


@pytest.mark.parametrize("verbose, level", [(False, "ERROR"), (True, "INFO")])
def test_ray_trains_console_lines_are_errors_only_unless_verbose(tmp_path, verbose, level):
    """Without -v Ray Train's warnings stay in its log files: on a fully loaded machine its controller
    warned, with a whole GetTimeoutError traceback, each time a call to the autoscaling coordinator timed
    out ("safe to ignore"); a worker setup hook to shorten it instead doubled the start of each actor."""
    from supernet.distributed.launch import _make_trainer

    trainer = _make_trainer(
        _config(tmp_path), RayConfig(workers=2, verbose=verbose), out=tmp_path, storage=str(tmp_path),
        name="run", has_ckpt=False,
    )  # fmt: skip
    assert trainer.run_config.logging_config.log_level == level
