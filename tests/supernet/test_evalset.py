"""Streaming evaluation: the same images, order and numbers as stacking a whole split; shards stay shards."""

import random
from pathlib import Path

import torch

from supernet import ElasticMobileNetV2, SearchSpace
from supernet.train import trainer as trainer_module
from supernet.train.bn_calib import recalibrate_bn
from supernet.train.config import TrainConfig
from supernet.train.data import load_data
from supernet.train.evalset import EvalSet, calibration_set
from supernet.train.evaluate import accuracy, evaluate_subnet
from supernet.train.trainer import Trainer

TINY = Path(__file__).parents[1] / "spaces" / "tiny.yaml"


def test_streamed_batches_are_the_stacked_split_in_order_and_nothing_is_kept():
    bundle = load_data("digits", seed=0)
    stacked = EvalSet(bundle.val, bundle.preprocessing)  # cache=True: the old, materialised way
    images, labels = stacked.at(8)
    streamed = EvalSet(bundle.val, bundle.preprocessing, cache=False, batch_size=64)
    batches = list(streamed.batches(8))
    assert [len(y) for _, y in batches[:-1]] == [64] * (len(batches) - 1)
    assert torch.equal(torch.cat([x for x, _ in batches]), images)
    assert torch.equal(torch.cat([y for _, y in batches]), labels) and labels.dtype == torch.long
    assert not streamed._prepared  # a streamed split holds nothing after a pass
    assert torch.equal(streamed.head(10).images(8), images[:10])


def test_calibration_set_decoded_by_worker_processes_is_the_same():
    bundle = load_data("digits", seed=3)
    one = calibration_set(bundle, 100, seed=3).images(8)
    assert torch.equal(calibration_set(bundle, 100, seed=3, workers=2).images(8), one)


def test_streamed_evaluation_gives_exactly_the_stacked_numbers():
    torch.manual_seed(0)
    space = SearchSpace.load(TINY)
    bundle = load_data("synthetic", seed=0, img_size=16)
    model = ElasticMobileNetV2(space, num_classes=10, in_chans=3)
    calib = calibration_set(bundle, 64)
    for arch in (space.smallest(), space.largest(), space.sample(random.Random(1))):
        streamed = EvalSet(bundle.test, bundle.preprocessing, cache=False, batch_size=40)
        got = evaluate_subnet(model, arch, calib, streamed, batch_size=40)
        recalibrate_bn(model, arch, calib.images(arch.resolution), batch_size=40)
        expected = accuracy(
            model, *EvalSet(bundle.test, bundle.preprocessing).at(arch.resolution), batch_size=40
        )
        assert got == expected


def _recording(dataset, seen: list):
    class Recording(torch.utils.data.Dataset):
        def __len__(self):
            return len(dataset)

        def __getitem__(self, i):
            seen.append(i)
            return dataset[i]

    return Recording()


def test_each_rank_reads_only_its_shard_and_only_rank_0_reads_evaluation_data(tmp_path, monkeypatch):
    reads = {}

    def load(*args, **kwargs):
        bundle = load_data(*args, **kwargs)
        for split in ("train", "val", "test", "calib_source"):
            reads[split] = []
            setattr(bundle, split, _recording(getattr(bundle, split), reads[split]))
        return bundle

    monkeypatch.setattr(trainer_module, "load_data", load)
    config = TrainConfig(
        space=str(TINY), dataset="synthetic", img_size=16, batch_size=32, out=str(tmp_path / "r")
    )
    shards = []
    for rank in (0, 1):
        trainer = Trainer(config, rank=rank, world_size=2, is_main=False)
        for _ in trainer.loader:
            pass
        assert not reads["val"] and not reads["test"] and not reads["calib_source"]
        shards.append(set(reads["train"]))
    n = len(load_data("synthetic", seed=0, img_size=16).train)
    assert not shards[0] & shards[1] and len(shards[0]) == len(shards[1]) == n // 2 // 32 * 32
