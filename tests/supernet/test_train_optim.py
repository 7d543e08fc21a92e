"""LR schedule (warmup, exponential decay, 5% floor) and weight decay (once per step, not on BN/bias)."""

from pathlib import Path

import torch
import yaml

from supernet import ElasticMobileNetV2, SearchSpace
from supernet.train.config import TrainConfig
from supernet.train.optim import create_train_optimizer, create_train_scheduler
from supernet.train.sandwich import sandwich_backward, step_archs

TINY = (Path(__file__).parents[1] / "spaces" / "tiny-1stage.yaml").read_text()


def tiny_model():
    torch.manual_seed(0)
    return ElasticMobileNetV2(SearchSpace.from_dict(yaml.safe_load(TINY)), num_classes=4, in_chans=3)


def lrs(config, steps_per_epoch=10, total=400):
    opt = create_train_optimizer(torch.nn.Linear(2, 2), config)
    sched = create_train_scheduler(opt, config, steps_per_epoch)
    out = []
    for t in range(total):
        sched.step_update(t)
        out.append(opt.param_groups[0]["lr"])
    return out


def test_lr_warms_up_linearly_then_decays_to_a_constant_floor():
    config = TrainConfig(lr=0.1, warmup_epochs=2, lr_decay_rate=0.8, lr_decay_epochs=1, lr_floor=0.05)
    lr = lrs(config)
    warm = lr[:20]
    assert warm == sorted(warm) and lr[20] == 0.1
    steps = [b - a for a, b in zip(warm, warm[1:])]
    assert max(steps) - min(steps) < 1e-12  # linear
    assert abs(lr[30] - 0.1 * 0.8) < 1e-12 and abs(lr[25] - 0.1 * 0.8**0.5) < 1e-12  # smooth within an epoch
    assert min(lr[20:]) == 0.1 * 0.05 == lr[-1]  # the floor holds and is reached
    assert lr[20:] == sorted(lr[20:], reverse=True)


def test_without_tail_the_lr_decays_below_the_floor():
    lr = lrs(TrainConfig(lr=0.1, warmup_epochs=0, lr_decay_rate=0.8, lr_decay_epochs=1, lr_tail=False))
    assert lr[0] == 0.1 and lr[-1] < 0.1 * 0.05


def test_weight_decay_skips_bn_and_bias_and_is_applied_once_per_step():
    model = tiny_model()
    config = TrainConfig(lr=0.1, weight_decay=0.01, momentum=0.9, opt="sgd")
    opt = create_train_optimizer(model, config)
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    for name, p in model.named_parameters():
        assert (id(p) in decayed) == (p.ndim > 1), name  # conv/linear weights only, never BN or bias
    assert all(g["nesterov"] for g in opt.param_groups)

    images, targets = torch.randn(4, 3, 16, 16), torch.randint(0, 4, (4,))
    archs = step_archs(model.space, seed=0, step=0, num_random=2)
    sandwich_backward(model, images, targets, archs)  # four subnets, one step
    before = {
        n: (p.detach().clone(), None if p.grad is None else p.grad.clone())
        for n, p in model.named_parameters()
    }
    opt.step()
    for name, p in model.named_parameters():
        w, g = before[name]
        if g is None:
            continue
        wd = 0.01 if p.ndim > 1 else 0.0
        d = g + wd * w  # first nesterov step: update = (1 + momentum) * d
        torch.testing.assert_close(p.detach(), w - 0.1 * 1.9 * d, msg=name)
