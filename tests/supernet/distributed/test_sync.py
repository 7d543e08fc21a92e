"""The one-bucket all-reduce on two real gloo ranks (torch.multiprocessing, no Ray)."""

import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from supernet import ElasticMobileNetV2, SearchSpace
from supernet.distributed.sync import allreduce_step, broadcast_model, bucket_numel, free_port, weights_digest
from supernet.train.sandwich import sandwich_backward, step_archs


def _run(rank: int, world_size: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        result = {"grad_cases": _grad_cases(rank), "sandwich": _sandwich_steps(rank)}
    finally:
        dist.destroy_process_group()
    with open(f"{out_dir}/rank{rank}.json", "w") as f:
        json.dump(result, f)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> list[dict]:
    """Both scenarios on one pair of spawned gloo ranks (spawning costs more than the work)."""
    out = tmp_path_factory.mktemp("ranks")
    # spawned children import this module by its pytest name (`tests.supernet...`): give them the root
    root = str(Path(__file__).resolve().parents[3])
    with pytest.MonkeyPatch.context() as mpatch:
        mpatch.syspath_prepend(root)
        mp.start_processes(_run, args=(2, free_port(), str(out)), nprocs=2, start_method="spawn")
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


class _Three(nn.Module):
    """`shared` gets a gradient on both ranks, `only0` on rank 0 only, `never` on none."""

    def __init__(self) -> None:
        super().__init__()
        self.shared, self.only0, self.never = nn.Linear(3, 3), nn.Linear(3, 1), nn.Linear(3, 1)
        self.bn = nn.BatchNorm1d(3)


def _grad_cases(rank: int) -> dict:
    torch.manual_seed(0)
    model = _Three()
    torch.manual_seed(100 + rank)
    x = torch.randn(8, 3)
    h = model.bn(model.shared(x))
    loss = h.pow(2).mean() + (model.only0(h).sum() if rank == 0 else 0)
    loss.backward()
    local = {n: p.grad.tolist() for n, p in model.named_parameters() if p.grad is not None}
    local_mean = model.bn.running_mean.tolist()
    allreduce_step(model)
    synced = {n: (None if p.grad is None else p.grad.tolist()) for n, p in model.named_parameters()}
    return {
        "local": local,
        "synced": synced,
        "local_mean": local_mean,
        "mean": model.bn.running_mean.tolist(),
    }


def test_allreduce_averages_grads_keeps_untouched_params_gradless(two_ranks):
    r0, r1 = (r["grad_cases"] for r in two_ranks)
    assert r0["synced"] == r1["synced"]
    for name in ("shared.weight", "shared.bias"):
        expected = (torch.tensor(r0["local"][name]) + torch.tensor(r1["local"][name])) / 2
        torch.testing.assert_close(torch.tensor(r0["synced"][name]), expected)
    # a gradient only rank 0 has counts as zero on rank 1: the mean over ranks, as for one big batch
    torch.testing.assert_close(
        torch.tensor(r1["synced"]["only0.weight"]), torch.tensor(r0["local"]["only0.weight"]) / 2
    )
    assert r0["synced"]["never.weight"] is None and r1["synced"]["never.bias"] is None
    expected_mean = (torch.tensor(r0["local_mean"]) + torch.tensor(r1["local_mean"])) / 2
    torch.testing.assert_close(torch.tensor(r0["mean"]), expected_mean)
    assert r0["mean"] == r1["mean"]


def _sandwich_steps(rank: int) -> dict:
    space = SearchSpace.preset("mbv2-small")
    torch.manual_seed(rank)  # different init per rank: broadcast_model must fix it
    model = ElasticMobileNetV2(space, num_classes=10, in_chans=1)
    model.zero_init_last()
    broadcast_model(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    digests, missing = [weights_digest(model)], []
    for step in range(2):
        gen = torch.Generator().manual_seed(1000 * rank + step)  # each rank its own shard of data
        images, targets = torch.randn(4, 1, 32, 32, generator=gen), torch.randint(0, 10, (4,), generator=gen)
        opt.zero_grad(set_to_none=True)
        archs = [space.smallest(), *step_archs(space, seed=0, step=step, num_random=1, sandwich=False)]
        sandwich_backward(model, images, targets, archs, inplace_distill=False)
        allreduce_step(model)
        missing.append(sum(p.grad is None for p in model.parameters()))
        opt.step()
        digests.append(weights_digest(model))
    return {"digests": digests, "missing": missing, "numel": bucket_numel(model)}


def test_sandwich_ranks_stay_bit_identical(two_ranks):
    r0, r1 = (r["sandwich"] for r in two_ranks)
    assert r0["digests"] == r1["digests"]
    assert len(set(r0["digests"])) == 3  # the weights did move
    assert min(r0["missing"]) > 0  # depth-skipped blocks: their params stay gradless


def test_single_process_is_a_no_op():
    model = _Three()
    model.shared(torch.randn(2, 3)).sum().backward()
    before = model.shared.weight.grad.clone()
    allreduce_step(model)
    assert torch.equal(model.shared.weight.grad, before) and model.never.weight.grad is None


@pytest.mark.parametrize(
    "model_fn", [_Three, lambda: ElasticMobileNetV2(SearchSpace.preset("mbv2-small"), 10, 1)]
)
def test_bucket_counts_every_param_flag_and_float_buffer(model_fn):
    model = model_fn()
    params = list(model.parameters())
    floats = [b for b in model.buffers() if b.is_floating_point()]
    assert bucket_numel(model) == sum(p.numel() for p in params) + len(params) + sum(
        b.numel() for b in floats
    )
