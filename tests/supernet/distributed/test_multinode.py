"""A real 2-node Ray cluster on this machine (token authentication on): one worker per node, placement
checked with Ray's state API, and the run directory of a single process; also through `ray job submit`.

Each node has its own temp dir and ports. The fixture stops exactly the processes of these two nodes
(never `ray stop`, which would stop every Ray process on the host, other users' included).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.proc_table import descendants, processes

ROOT = Path(__file__).resolve().parents[3]
TINY = ROOT / "tests" / "spaces" / "tiny.yaml"
RAY = str(Path(sys.executable).with_name("ray"))


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _node_processes(markers: list[str]) -> set[int]:
    """Processes whose command line names one of our temp dirs, and all their descendants."""
    procs, me = processes(), os.getpid()
    found = {pid for pid, (_, cmd) in procs.items() if pid != me and any(m in cmd for m in markers)}
    return found | set(descendants(*found, procs=procs))


def _stop(markers: list[str]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _node_processes(markers):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + 15
        while time.time() < deadline and _node_processes(markers):
            time.sleep(0.3)


def _cluster_extra_missing() -> str | None:
    """Why the head's dashboard (Ray's state API, `ray job submit`) cannot start in this venv, or None."""
    try:
        import ray.dashboard.optional_deps  # noqa: F401  (what `ray start --include-dashboard` imports)
    except ImportError as e:
        return f"the 2-node tests need ray[default], the cluster extra: `make test-slow` installs it ({e})"
    return None


@pytest.fixture(scope="module")
def two_nodes():
    """Head + one worker node, 1 CPU each, token auth on; yields (env, gcs address, dashboard URL)."""
    if why := _cluster_extra_missing():  # a failure, not a skip: a skipped slow run would pass untested
        pytest.fail(why, pytrace=False)
    temp = [tempfile.mkdtemp(prefix="rn", dir="/tmp") for _ in range(2)]  # short: socket paths are limited
    gcs, dash, agent_a, agent_b, client = _free_ports(5)
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("RAY_ADDRESS", None)
    common = ["--num-cpus", "1", "--object-store-memory", str(100 << 20), "--disable-usage-stats"]
    common += ["--node-ip-address", "127.0.0.1"]
    try:
        subprocess.run(
            [RAY, "start", "--head", "--port", str(gcs), "--temp-dir", temp[0], "--include-dashboard", "true",
             "--dashboard-port", str(dash), "--dashboard-agent-listen-port", str(agent_a),
             "--ray-client-server-port", str(client), *common],
            env=env, check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        subprocess.run(
            [RAY, "start", "--address", f"127.0.0.1:{gcs}", "--temp-dir", temp[1],
             "--dashboard-agent-listen-port", str(agent_b), *common],
            env=env, check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        yield env, f"127.0.0.1:{gcs}", f"http://127.0.0.1:{dash}"
    finally:
        _stop(temp)
        left = _node_processes(temp)
        for t in temp:
            shutil.rmtree(t, ignore_errors=True)
        assert not left, f"Ray processes of the test cluster left running: {left}"


def _train_argv(out: str) -> list[str]:
    return ["train", "--space", str(TINY), "--dataset", "synthetic", "--img-size", "16", "--epochs", "1",
            "--batch-size", "32", "--num-random", "1", "--calib-images", "32", "--out", out,
            "--num-workers", "2", "--placement-strategy", "STRICT_SPREAD"]  # fmt: skip


def _worker_nodes(dashboard: str, env: dict) -> list[str]:
    """Node ids of the Ray Train worker actors, from Ray's state API (the command the README gives)."""
    out = subprocess.run(
        [RAY, "list", "actors", "--address", dashboard, "--filter", "class_name=RayTrainWorker", "--detail",
         "--format", "json", "--limit", "100"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return [actor["node_id"] for actor in json.loads(out.stdout)]


def _job_outcome(dashboard: str, env: dict, job: str) -> tuple[int | None, str]:
    """(the job's driver exit code, its whole output) from Ray's job API."""
    code = (
        "import json; from ray.job_submission import JobSubmissionClient as C; "
        f"c = C({dashboard!r}); "
        f"print(json.dumps([c.get_job_info({job!r}).driver_exit_code, c.get_job_logs({job!r})]))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    exit_code, logs = json.loads(out.stdout.strip().splitlines()[-1])
    return exit_code, logs


def _assert_rank_0_output_only(printed: str) -> None:
    """Rank 0's epoch line once, none of Ray's per-rank or cluster lines."""
    assert printed.count("epoch 1/1 loss") == 1, printed
    for noise in (
        "TrainingReport",
        "PlacementGroupCleaner",
        "PreemptionWatcher",
        "Computing precise BN",
        "pid=",
    ):
        assert noise not in printed, printed


def _assert_single_process_layout(run: Path) -> None:
    from supernet.train.checkpoint import load_checkpoint

    names = {p.name for p in run.iterdir()}
    assert {"config.json", "metrics.jsonl", "checkpoint.json"} <= names
    assert any(n.startswith("weights-e0001") for n in names) and any(
        n.startswith("state-e0001") for n in names
    )
    assert load_checkpoint(run).epoch == 1
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1]).get("final")


@pytest.mark.slow
def test_one_worker_per_node_on_two_nodes(two_nodes, tmp_path):
    env, gcs, dashboard = two_nodes
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "supernet_cli", *_train_argv(str(run)), "--address", gcs],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    nodes = _worker_nodes(dashboard, env)
    assert len(nodes) == 2 and len(set(nodes)) == 2  # STRICT_SPREAD: one worker on each node
    _assert_single_process_layout(run)
    _assert_rank_0_output_only(done.stdout + done.stderr)


@pytest.mark.slow
def test_ray_job_submit_runs_on_the_cluster_and_refuses_a_relative_out(two_nodes, tmp_path):
    env, _, dashboard = two_nodes
    submit = [RAY, "job", "submit", "--address", dashboard, "--working-dir", str(tmp_path)]
    relative = subprocess.run(
        [*submit, "--submission-id", "relative-out", "--", sys.executable, "-m", "supernet_cli",
         *_train_argv("runs/lost")],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert relative.returncode == 1  # `ray job submit` itself: the job failed
    code, logs = _job_outcome(dashboard, env, "relative-out")
    assert code == 2, logs  # the job's own exit code: bad input
    # Ray's own lines first, then the entrypoint's
    ray_says, _, printed = logs.partition("Running entrypoint for job relative-out: ")
    assert "Runtime env is setting up" in ray_says
    assert printed.strip().splitlines()[1:] == [
        "supernet train: error: --out runs/lost is a relative path inside Ray job relative-out, whose working "
        "directory is a temporary copy deleted with the job; pass an absolute path every node can see, "
        "e.g. --out /shared/runs/lost"
    ]  # one line from supernet, no traceback

    run = tmp_path / "run"
    done = subprocess.run(
        [*submit, "--", sys.executable, "-m", "supernet_cli", *_train_argv(str(run))],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    _assert_single_process_layout(run)
    _assert_rank_0_output_only(done.stdout + done.stderr)  # the job's output, as `ray job submit` tails it
