"""Every epoch's `cpu_time_s`: the process CPU time it took, summed over all ranks (a run's cost in CPU-hours)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from supernet.distributed.sync import free_port
from supernet.train.trainer import Trainer
from tests.supernet.test_train_trainer import tiny_config

ROOT = Path(__file__).resolve().parents[2]


def test_one_process_records_its_cpu_time_per_epoch(tmp_path):
    trainer = Trainer(tiny_config(tmp_path))
    start = time.process_time()
    trainer.fit()
    spent = time.process_time() - start
    records = [
        json.loads(line) for line in Path(trainer.config.out, "metrics.jsonl").read_text().splitlines()
    ]
    cpu = [r["cpu_time_s"] for r in records if "loss" in r]
    assert len(cpu) == 2 and all(c > 0 for c in cpu)
    assert sum(cpu) <= spent  # within what the process spent in fit (which also ran the final test)
    assert cpu[-1] == trainer.epoch_cpu_s  # one rank: its own share is the total


# One rank of a 2-process run (gloo), printing per epoch (its own CPU seconds, the recorded total).
_RANK = """
import json, sys, torch, torch.distributed as dist
from supernet.distributed.sync import StepSync, broadcast_model, mean_over_ranks
from supernet.train.config import TrainConfig
from supernet.train.trainer import Trainer
rank, port, config = int(sys.argv[1]), sys.argv[2], TrainConfig.from_dict(json.loads(sys.argv[3]))
torch.set_num_threads(1)
dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
seen = []
trainer = Trainer(config, rank=rank, world_size=2, grad_sync=StepSync(), is_main=rank == 0,
                  reduce_scalar=mean_over_ranks, device="cpu", batch_per_rank=config.batch_size // 2,
                  on_epoch_end=lambda m: seen.append((trainer.epoch_cpu_s, m["cpu_time_s"])))
broadcast_model(trainer.model)
trainer.fit()
dist.destroy_process_group()
print(json.dumps(seen))
"""


def test_two_processes_record_the_sum_of_both_ranks(tmp_path):
    config = tiny_config(tmp_path, epochs=1)
    port = str(free_port())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    ranks = [
        subprocess.Popen(
            [sys.executable, "-c", _RANK, str(rank), port, config.to_json()],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for rank in (0, 1)
    ]
    outs = [p.communicate(timeout=600) for p in ranks]
    assert [p.returncode for p in ranks] == [0, 0], [err[-2000:] for _, err in outs]
    (own0, total0), (own1, total1) = (json.loads(out.strip().splitlines()[-1])[0] for out, _ in outs)
    assert own0 > 0 and own1 > 0
    assert total0 == total1 and abs(total0 - (own0 + own1)) < 1e-6 * total0  # one all-reduce: the sum
    assert total0 > max(own0, own1)  # more than either rank's own share
    records = [json.loads(line) for line in Path(config.out, "metrics.jsonl").read_text().splitlines()]
    assert [r["cpu_time_s"] for r in records if "loss" in r] == [total0]
