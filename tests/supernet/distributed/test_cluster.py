"""Bad cluster input fails within seconds with a one-line ClusterError (no Ray cluster is started here)."""

import argparse
import functools
import json
import time

import pytest

from supernet._compat import ray_services
from supernet.distributed.cli import add_distributed_args
from supernet.distributed.cluster import ClusterError, check_resources, connect
from supernet.distributed.launch import RayConfig, train_distributed
from supernet.errors import CheckpointError, SupernetError
from supernet.train.config import TrainConfig


@pytest.fixture(autouse=True)
def _no_ray_address(monkeypatch):
    """No cluster is named, and a cluster some other process runs on this machine is not found by `auto`."""
    import ray

    services = ray_services()
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(services, "find_gcs_addresses", functools.lru_cache(maxsize=1)(lambda: []))
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir=None: None)
    yield
    if ray.is_initialized():  # a test that connected by mistake must not leak into the next
        ray.shutdown()


@pytest.mark.parametrize(
    "address, words",
    [
        ("127.0.0.1:1", "no Ray cluster answers at 127.0.0.1:1"),
        ("no-such-host.invalid:6379", "no Ray cluster answers"),
        ("auto", "no Ray cluster found on this machine"),
        ("localhost", "not valid; allowed: auto, HOST:PORT or ray://HOST:PORT"),
    ],
)
def test_unreachable_or_malformed_address_fails_fast(address, words):
    start = time.perf_counter()
    with pytest.raises(ClusterError, match=words) as info:
        connect(address)
    assert time.perf_counter() - start < 10
    assert "\n" not in str(info.value) and isinstance(info.value, SupernetError)


@pytest.mark.parametrize(
    "workers, cpus, gpus, words",
    [
        (
            3,
            1,
            0,
            r"--num-workers 3 needs 3 CPUs \(1 per worker\) but the Ray cluster has 2; use --num-workers <= 2",
        ),
        (2, 1.5, 0, r"--num-workers 2 needs 3 CPUs .* use --num-workers <= 1"),
        (1, 1, 1, "each worker needs 1 GPUs but the Ray cluster has 0; leave out --gpus-per-worker"),
    ],
)
def test_more_workers_than_the_cluster_holds(workers, cpus, gpus, words):
    with pytest.raises(ClusterError, match=words):
        check_resources({"CPU": 2.0}, workers, cpus, gpus)


def test_resources_that_fit_pass():
    check_resources({"CPU": 4.0, "GPU": 2.0}, 2, 2, 1)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"workers": 0}, "--num-workers must be >= 1"),
        ({"workers": 2, "gpus_per_worker": -1}, "--gpus-per-worker"),
    ],
)
def test_ray_config_is_validated(kwargs, words):
    with pytest.raises(ClusterError, match=words):
        RayConfig(**kwargs).validate()


def test_cli_options_round_trip():
    parser = argparse.ArgumentParser()
    add_distributed_args(parser)
    plain = parser.parse_args([])
    assert plain.ray_workers is None
    args = parser.parse_args(
        ["--num-workers", "4", "--gpus-per-worker", "1", "--address", "auto", "--storage", "s3://b/p"]
    )
    assert RayConfig.from_args(args) == RayConfig(
        workers=4, gpus_per_worker=1.0, address="auto", storage="s3://b/p"
    )


def test_existing_run_needs_resume_before_any_cluster_work(tmp_path):
    (tmp_path / "checkpoint.json").write_text("{}")
    with pytest.raises(CheckpointError, match="pass --resume"):
        train_distributed(TrainConfig(out=str(tmp_path)), RayConfig(workers=2, address="127.0.0.1:1"))


def test_too_many_workers_for_this_machine_fail_before_ray_starts(tmp_path, monkeypatch):
    import ray

    monkeypatch.setattr("supernet.distributed.cluster.os.cpu_count", lambda: 2)
    start = time.perf_counter()
    with pytest.raises(ClusterError, match="--num-workers 3 needs 3 CPUs"):
        train_distributed(TrainConfig(out=str(tmp_path / "run")), RayConfig(workers=3))
    assert time.perf_counter() - start < 10 and not ray.is_initialized()


def test_relative_out_inside_a_ray_job_is_refused_with_one_line(monkeypatch, tmp_path):
    from supernet.distributed.cluster import check_job_paths

    check_job_paths(out="runs/x", storage=None)  # not inside a job: relative paths are fine
    monkeypatch.setenv(
        "RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps({"metadata": {"job_submission_id": "raysubmit_1"}})
    )
    check_job_paths(out=str(tmp_path / "run"), storage="s3://bucket/runs")  # absolute paths and URIs pass
    for option, value in (("out", "runs/x"), ("storage", "ray-store")):
        with pytest.raises(
            ClusterError, match=f"--{option} {value} is a relative path inside Ray job raysubmit_1"
        ):
            check_job_paths(**{option: value})


def test_placement_strategy_option():
    parser = argparse.ArgumentParser()
    add_distributed_args(parser)
    assert parser.parse_args([]).placement_strategy == "PACK"
    args = parser.parse_args(["--num-workers", "2", "--placement-strategy", "STRICT_SPREAD"])
    assert RayConfig.from_args(args).placement_strategy == "STRICT_SPREAD"
    with pytest.raises(ClusterError, match="--placement-strategy 'EVERYWHERE' is unknown"):
        RayConfig(workers=2, placement_strategy="EVERYWHERE").validate()


def test_verbose_option_and_ray_train_switches(monkeypatch):
    """-v keeps Ray's own lines; a run sets Ray Train's print patch (and, unless -v, its preemption watcher)
    off for its duration only, and a user's own setting of either wins."""
    import os

    from supernet.distributed.launch import _train_env

    parser = argparse.ArgumentParser()
    add_distributed_args(parser)
    assert not RayConfig.from_args(parser.parse_args(["--num-workers", "2"])).verbose
    assert RayConfig.from_args(parser.parse_args(["--num-workers", "2", "-v"])).verbose

    keys = ("RAY_TRAIN_ENABLE_PRINT_PATCH", "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER")
    for key in keys:
        monkeypatch.delenv(key, raising=False)
    with _train_env(verbose=False):
        assert [os.environ.get(k) for k in keys] == ["0", "0"]
    with _train_env(verbose=True):
        assert [os.environ.get(k) for k in keys] == ["0", None]  # Ray's default: the watcher logs drains
    assert [os.environ.get(k) for k in keys] == [None, None]
    monkeypatch.setenv("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "1")
    with _train_env(verbose=False):
        assert os.environ["RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"] == "1"
    assert os.environ["RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"] == "1"
