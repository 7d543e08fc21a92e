"""Reaching a Ray cluster, failing within seconds (not hanging) when it is not there or too small.

Token authentication stays as Ray sets it: a local cluster started here generates and uses a token
(Ray >= 2.59 turns it on for local clusters), and a remote one needs the token of that cluster in
`~/.ray/auth_token`, `RAY_AUTH_TOKEN_PATH` or `RAY_AUTH_TOKEN` with `RAY_AUTH_MODE=token`.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from .._compat import ray_client_dependency_error
from ..errors import SupernetError

# Ray retries the GCS about once a second, 20 times by default; this many seconds is our budget.
CONNECT_TIMEOUT_S = 5
# Weights travel through storage, not the object store: keep a local cluster's shared memory small.
LOCAL_OBJECT_STORE_BYTES = 1 << 30


class ClusterError(SupernetError):
    """A Ray cluster that cannot be reached or cannot host the requested workers."""


def _host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ClusterError(f"--address {address!r} is not valid; allowed: auto, HOST:PORT or ray://HOST:PORT")
    return host.strip("[]"), int(port)


def _probe(host: str, port: int, timeout_s: float) -> None:
    """Fail fast on a refused port, an unknown host or a silent network before Ray retries for long."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as e:
        raise ClusterError(
            f"no Ray cluster answers at {host}:{port} ({e.strerror or e}); start one with `ray start --head` "
            "there, check the address, or leave out --address to start a local cluster"
        ) from None


@contextlib.contextmanager
def _gcs_wait(timeout_s: int) -> Iterator[None]:
    key = "RAY_gcs_server_port_wait_time_s"
    old = os.environ.get(key)
    os.environ[key] = str(timeout_s)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def connect(
    address: str | None = None,
    num_cpus: int | None = None,
    timeout_s: int = CONNECT_TIMEOUT_S,
    quiet: bool = False,
) -> dict:
    """Connect to the cluster at `address` (or start a local one) and return its total resources.

    `address`: None starts a new local cluster unless `RAY_ADDRESS` is set (as inside `ray job submit`),
    "auto" joins the cluster started on this machine with `ray start`, "HOST:PORT" joins a head's
    GCS, "ray://HOST:PORT" uses Ray Client (needs `ray[client]`). `num_cpus` caps a local cluster.
    A connection that already exists in this process is reused. `quiet`: this job's Ray processes log
    errors only (`ray.LoggingConfig`, which also drops the "(Actor pid=...)" prefix of forwarded lines).
    """
    import ray

    if ray.is_initialized():
        return ray.cluster_resources()
    kwargs: dict = {"include_dashboard": False, "configure_logging": True, "logging_level": "WARNING"}
    if quiet:
        kwargs["logging_config"] = ray.LoggingConfig(encoding="TEXT", log_level="ERROR")
    address = address or os.environ.get("RAY_ADDRESS") or None
    try:
        if address is None:
            ray.init(
                address="local", num_cpus=num_cpus, object_store_memory=LOCAL_OBJECT_STORE_BYTES, **kwargs
            )
        elif address == "auto":
            with _gcs_wait(timeout_s):
                ray.init(address="auto", **kwargs)
        elif address.startswith("ray://"):
            if ray_client_dependency_error() is not None:
                raise ClusterError(
                    f"--address {address} needs Ray Client: `pip install 'ray[client]'`, or run on the "
                    "cluster with `ray job submit -- supernet train ... --address auto`"
                )
            _probe(*_host_port(address.removeprefix("ray://")), timeout_s)
            ray.init(address=address, **kwargs)
        else:
            _probe(*_host_port(address), timeout_s)
            with _gcs_wait(timeout_s):
                ray.init(address=address, **kwargs)
    except ConnectionError as e:
        if "Could not find any running Ray instance" in str(e):
            raise ClusterError(
                "no Ray cluster found on this machine (--address auto); start one with `ray start --head`, "
                "or leave out --address to start a local cluster"
            ) from None
        raise ClusterError(
            f"could not connect to a Ray cluster at {address} within {timeout_s} s: nothing there is a Ray head, "
            "or it rejected this client's token (set RAY_AUTH_MODE=token and put the cluster's token in "
            "~/.ray/auth_token)"
        ) from None
    except ray.exceptions.AuthenticationError as e:
        raise ClusterError(
            f"the Ray cluster at {address} rejected this client's token ({e.message}); copy the cluster's "
            "token to ~/.ray/auth_token (`ray get-auth-token` on the head) and set RAY_AUTH_MODE=token"
        ) from None
    return ray.cluster_resources()


def ray_job_id() -> str | None:
    """The submission id when this process is the entrypoint of a `ray job submit` job, else None."""
    import json

    raw = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")
    if not raw:
        return None
    try:
        return str(json.loads(raw).get("metadata", {}).get("job_submission_id") or "unknown")
    except (ValueError, AttributeError):
        return "unknown"


def check_job_paths(**paths: str | None) -> None:
    """Inside a `ray job submit` job the working directory is Ray's temporary copy (`--working-dir`), deleted
    with the job: refuse a relative output path there instead of losing the run. `paths`: option -> value."""
    job = ray_job_id()
    if job is None:
        return
    for option, value in paths.items():
        if value and "://" not in value and not os.path.isabs(value):
            flag = "--" + option.replace("_", "-")
            raise ClusterError(
                f"{flag} {value} is a relative path inside Ray job {job}, whose working directory is a "
                f"temporary copy deleted with the job; pass an absolute path every node can see, e.g. "
                f"{flag} /shared/runs/{Path(value).name}"
            )


def check_resources(resources: dict, workers: int, cpus_per_worker: float, gpus_per_worker: float) -> None:
    """Raise ClusterError unless the cluster's totals fit `workers` x (CPUs, GPUs) per worker.

    Ray would otherwise wait for resources forever; on an autoscaling cluster whose nodes are not up
    yet, start them first (or raise the minimum nodes) so the totals are visible.
    """
    for kind, per_worker in (("CPU", cpus_per_worker), ("GPU", gpus_per_worker)):
        have, need = resources.get(kind, 0.0), workers * per_worker
        if need <= have:
            continue
        if have < per_worker:
            fix = "leave out --gpus-per-worker to train on CPUs" if kind == "GPU" else "add nodes"
            raise ClusterError(
                f"each worker needs {per_worker:g} {kind}s but the Ray cluster has {have:g}; {fix}"
            )
        raise ClusterError(
            f"--num-workers {workers} needs {need:g} {kind}s ({per_worker:g} per worker) but the Ray cluster has "
            f"{have:g}; use --num-workers <= {int(have // per_worker)} or add nodes"
        )


def starts_local_cluster(address: str | None) -> bool:
    """Whether `connect(address)` would start a new cluster on this machine (so its size is known now)."""
    import ray

    return not ray.is_initialized() and not (address or os.environ.get("RAY_ADDRESS"))


def local_resources() -> dict:
    """What a local cluster started here would hold: this machine's CPUs and CUDA GPUs."""
    import torch

    return {"CPU": float(os.cpu_count() or 1), "GPU": float(torch.cuda.device_count())}


def shutdown() -> None:
    """Disconnect from (and, if started here, stop) the Ray cluster."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
