"""Local data-parallel training: the same `Trainer` in N processes on this machine (gloo, no Ray).

On a CPU, PyTorch's intra-op threads scale poorly for this network (small convolutions, spin-waiting
OpenMP threads), while N single-threaded processes that average their gradients once per step use N
cores almost fully (measured in experiments/results/train_throughput.md). Every process runs an
unchanged `Trainer` with its rank, exactly as a Ray Train worker does: the train split is sharded by
rank, the subnets of a step come from (seed, step), and `distributed_sync.StepSync` all-reduces the
whole sandwich's gradients and BN statistics in one bucket per step, so all ranks hold bit-identical
weights. Rank 0 alone evaluates, writes checkpoints and prints. The processes split `--batch-size`
evenly, so the optimisation (global batch, LR, steps per epoch) does not depend on how many processes
the machine allowed; only BatchNorm's batch statistics are taken per process (no SyncBN).

`choose_procs` is how `supernet train` picks N by default (`--nproc-per-node auto`).
"""

from __future__ import annotations

import dataclasses
import os
import time
import traceback
from datetime import timedelta
from pathlib import Path

from ..errors import SupernetError

# Below this many optimizer steps per epoch, start-up is not repaid (tiny data sets, tests): auto mode stays
# in one process. Each process keeps at least MIN_BATCH_PER_PROC images per step (its BatchNorm statistics).
MIN_STEPS_PER_EPOCH = 8
MIN_BATCH_PER_PROC = 16


@dataclasses.dataclass(frozen=True)
class ProcChoice:
    """How many processes (and torch threads each) a run uses, and the reason, for the log line."""

    nproc: int
    threads: int
    reason: str


def _cpu_busy_now(seconds: float = 0.3) -> float | None:
    """Cores busy right now (from two /proc/stat samples), or None where /proc/stat is unavailable.

    The 1-minute load average lags by minutes after other jobs stop, so it is only the fallback.
    """

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + (values[4] if len(values) > 4 else 0)  # total, idle + iowait

    try:
        (total0, idle0), _ = sample(), time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return (os.cpu_count() or 1) * (1 - (idle1 - idle0) / (total1 - total0))


def free_cores() -> tuple[int, int]:
    """(cores this process may run on, of them not busy now), each >= 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    busy = _cpu_busy_now()
    if busy is None:
        busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return cores, max(1, cores - int(busy + 0.5))


def choose_procs(
    requested: int | str,
    threads: int | None,
    train_images: int,
    batch_size: int,
    device: str,
) -> ProcChoice:
    """Resolve `--nproc-per-node` (an int or 'auto') and `--threads` (None: free cores / processes).

    The processes split the global `batch_size` evenly, so the count must divide it; auto takes the
    largest count that does, fits the free cores and leaves each process >= MIN_BATCH_PER_PROC images.
    """
    cores, free = free_cores()
    if requested != "auto":
        nproc = int(requested)
        if batch_size % nproc:
            raise SupernetError(
                f"--nproc-per-node {nproc} must divide --batch-size {batch_size} (the processes split the "
                "global batch evenly); choose a divisor, or 'auto'"
            )
        if batch_size // nproc < 2:
            raise SupernetError(
                f"--nproc-per-node {nproc} leaves each process {batch_size // nproc} image of --batch-size "
                f"{batch_size}; BatchNorm needs >= 2 per process: at most {batch_size // 2} processes, or 'auto'"
            )
        reason = f"--nproc-per-node {nproc}"
    elif device not in ("auto", "cpu") or _has_cuda(device):
        nproc, reason = 1, "a GPU trains in one process (use --num-workers for several GPUs)"
    elif train_images < MIN_STEPS_PER_EPOCH * batch_size:
        nproc = 1
        reason = (
            f"{train_images} training images make fewer than {MIN_STEPS_PER_EPOCH} steps of {batch_size}: "
            "more processes would not repay their start-up"
        )
    else:
        fits = [
            n for n in range(1, free + 1) if batch_size % n == 0 and batch_size // n >= MIN_BATCH_PER_PROC
        ]
        nproc = max(fits or [1])
        reason = (
            f"{free} of {cores} cores free now; largest count that divides "
            f"the batch of {batch_size} into shares of >= {MIN_BATCH_PER_PROC}"
        )
    if threads is None:
        threads = max(1, free // nproc)
    reason += f"; {threads} torch thread(s) each"
    if nproc * threads > cores:  # asked for: allowed (e.g. to test a layout), but not silently
        reason += f" ({nproc * threads} threads on {cores} cores: they will share them, each slower)"
    return ProcChoice(nproc, threads, reason)


def run_data(config):
    """The `DataBundle` a run of `config` trains on (opened, not decoded), exactly as `Trainer` loads it.

    The parent opens it once: its train split's size chooses the process count, and a one-process run
    hands it on (`Trainer(..., bundle=...)`) instead of opening the data set again.
    """
    from ..space import SearchSpace
    from .augment import Augmentation
    from .data import load_data

    space = SearchSpace.resolve(config.space)
    return load_data(
        config.dataset, config.data_dir, seed=config.seed, val_fraction=config.val_fraction,
        augment=config.augment, img_size=config.img_size or max(space.resolutions),
        augmentation=Augmentation.from_config(config),
    )  # fmt: skip


def saved_world_size(out: str) -> int | None:
    """The process count a run directory was trained with (None: no checkpoint, or not recorded)."""
    from .checkpoint import POINTER, read_pointer

    if not (Path(out) / POINTER).is_file():
        return None
    size = read_pointer(Path(out)).get("meta", {}).get("world_size")
    return size if isinstance(size, int) and size >= 1 else None


def _has_cuda(device: str) -> bool:
    if device != "auto":
        return False
    import torch

    return torch.cuda.is_available()


def die_with_parent(parent: int) -> None:
    """Make this worker exit when `supernet train` (pid `parent`) dies, even by SIGKILL or the OOM killer:
    an orphaned rank 0 would go on training and writing checkpoints into a run directory that a resumed
    run then shares. Linux delivers SIGKILL on the parent's death (prctl PR_SET_PDEATHSIG); elsewhere a
    daemon thread polls the parent pid once a second."""
    import ctypes
    import signal
    import sys
    import threading

    armed = False
    if sys.platform.startswith("linux"):
        try:
            armed = ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL) == 0  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # no prctl: the watchdog below
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    if not armed:

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker(
    rank: int, world_size: int, port: int, config_dict: dict, threads: int, results, parent: int
) -> None:
    die_with_parent(parent)
    import torch
    import torch.distributed as dist

    from ..distributed.sync import StepSync, broadcast_model, mean_over_ranks
    from .config import TrainConfig
    from .trainer import Trainer

    torch.set_num_threads(threads)
    try:
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=world_size,
            timeout=timedelta(minutes=30),
        )
        config = TrainConfig.from_dict(config_dict)
        trainer = Trainer(
            config, rank=rank, world_size=world_size, grad_sync=StepSync(), is_main=rank == 0,
            reduce_scalar=mean_over_ranks, device="cpu", batch_per_rank=config.batch_size // world_size,
        )  # fmt: skip
        broadcast_model(trainer.model)
        final = trainer.fit()
        results.put((rank, "ok", final))
    except SupernetError as e:
        results.put((rank, "user", (type(e).__name__, str(e))))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the run
        results.put((rank, "crash", traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def train_local(config, nproc: int, threads: int) -> dict:
    """Train `config` in `nproc` local processes; returns rank 0's final metrics (as `Trainer.fit`)."""
    import multiprocessing.connection as mpc

    import torch.multiprocessing as mp

    from .. import errors

    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    from ..distributed.sync import free_port

    port = free_port()
    procs = [
        ctx.Process(
            target=_worker,
            args=(r, nproc, port, config.to_dict(), threads, results, os.getpid()),
            daemon=True,
        )
        for r in range(nproc)
    ]
    for p in procs:
        p.start()
    outcome: dict[int, tuple] = {}
    try:
        pending = {p.sentinel: p for p in procs}
        while pending:
            for sentinel in mpc.wait(list(pending)):
                pending.pop(sentinel)
                while not results.empty():
                    rank, kind, payload = results.get()
                    outcome[rank] = (kind, payload)
                failed = [r for r, (kind, _) in outcome.items() if kind != "ok"]
                dead = [r for r, p in enumerate(procs) if p.exitcode not in (None, 0) and r not in outcome]
                if failed or dead:
                    for p in procs:
                        if p.is_alive():
                            p.terminate()
                    pending.clear()
                    break
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    for rank in sorted(outcome):
        kind, payload = outcome[rank]
        if kind == "user":
            raise getattr(errors, payload[0], SupernetError)(payload[1])
    for rank in sorted(outcome):
        kind, payload = outcome[rank]
        if kind == "crash":
            raise RuntimeError(f"training process {rank} of {nproc} failed:\n{payload}")
    codes = {r: p.exitcode for r, p in enumerate(procs)}
    if 0 not in outcome or any(code != 0 for code in codes.values()):
        raise RuntimeError(
            f"a training process died (exit codes by rank: {codes}); --resume continues the run"
        )
    return outcome[0][1]
