"""The one place DataLoaders are made: `workers` decoding processes (timm's `-j`), kept across passes.

Training reads its shard through one; every evaluation split streams through one per resolution
(`EvalSet.batches`), so no split is held whole in memory except the small fixed calibration set.
"""

from __future__ import annotations

from torch.utils.data import DataLoader, Dataset


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
