"""The one place DataLoaders are made: `workers` decoding processes (timm's `-j`), kept across passes.

Training reads its shard through one; every evaluation split streams through one per resolution
(`EvalSet.batches`), so no split is held whole in memory except the small fixed calibration set.
"""

from __future__ import annotations

from torch.utils.data import DataLoader, Dataset, DistributedSampler


def make_loader(
    dataset: Dataset,
    batch_size: int,
    workers: int = 0,
    pin_memory: bool = False,
    persistent: bool = True,
    **kwargs,
) -> DataLoader:
    """A DataLoader with `workers` processes, kept alive across epochs/passes if `persistent`, and pinned
    host memory when the batches go to a GPU."""
    return DataLoader(
        dataset,
        batch_size,
        num_workers=workers,
        persistent_workers=persistent and workers > 0,
        pin_memory=pin_memory,
        **kwargs,
    )


def shard_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    workers: int,
    pin_memory: bool,
    rank: int,
    world_size: int,
    seed: int,
) -> tuple[DistributedSampler, DataLoader]:
    """One rank's training loader: its shard of `dataset`, shuffled alike on every rank from `seed` (call
    `sampler.set_epoch` every epoch), full batches only."""
    sampler = DistributedSampler(
        dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True
    )
    loader = make_loader(dataset, batch_size, workers, pin_memory, sampler=sampler, drop_last=True)
    return sampler, loader
