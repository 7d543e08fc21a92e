"""The sandwich step: which subnets, summed gradients, in-place distillation, regularisation of the largest."""

from pathlib import Path

import torch
import yaml
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy

from supernet import ElasticMobileNetV2, SearchSpace
from supernet.train.resize import resize_to
from supernet.train.sandwich import sandwich_backward, step_archs

TINY = (Path(__file__).parents[1] / "spaces" / "tiny.yaml").read_text()


def tiny_model(drop_rate=0.0):
    torch.manual_seed(0)
    return ElasticMobileNetV2(
        SearchSpace.from_dict(yaml.safe_load(TINY)), num_classes=5, in_chans=3, drop_rate=drop_rate
    )


def batch(n=6):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 3, 16, 16, generator=g), torch.randint(0, 5, (n,), generator=g)


def test_step_archs_are_largest_smallest_then_seeded_random():
    space = tiny_model().space
    archs = step_archs(space, seed=3, step=7, num_random=2)
    assert archs[:2] == [space.largest(), space.smallest()] and len(archs) == 4
    assert archs == step_archs(space, seed=3, step=7, num_random=2)  # ranks and resumed runs agree
    others = [
        step_archs(space, seed=seed, step=s, num_random=2)[2:]
        for seed, s in [*((3, s) for s in range(8, 20)), (4, 7)]
    ]
    assert any(o != archs[2:] for o in others)
    assert step_archs(space, seed=3, step=7, num_random=2, sandwich=False) == archs[2:]


def test_accumulated_gradient_is_the_sum_of_per_subnet_gradients():
    model = tiny_model()
    images, targets = batch()
    archs = step_archs(model.space, seed=0, step=1, num_random=2)
    sandwich_backward(model, images, targets, archs, label_smoothing=0.1, inplace_distill=True)
    got = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    # each subnet alone; the students' targets are the teacher's softmax as a constant
    expected = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    with torch.no_grad():
        model.set_active(archs[0])
        teacher = model(images).softmax(-1)
    for i, arch in enumerate(archs):
        model.zero_grad(set_to_none=True)
        model.set_active(arch, regularize=i == 0)
        logits = model(resize_to(images, arch.resolution))
        loss = (
            LabelSmoothingCrossEntropy(0.1)(logits, targets)
            if i == 0
            else SoftTargetCrossEntropy()(logits, teacher)
        )
        loss.backward()
        for n, p in model.named_parameters():
            if p.grad is not None:
                expected[n] += p.grad
    assert set(got) == {n for n, g in expected.items() if g.abs().sum() > 0}
    for n, g in got.items():
        torch.testing.assert_close(g, expected[n], rtol=1e-4, atol=1e-6, msg=n)


def test_teacher_logits_get_only_their_own_label_gradient():
    model = tiny_model()
    images, targets = batch()
    seen = []

    def keep_grad(module, args, output):
        if not seen:  # the first forward is the teacher's
            output.register_hook(lambda grad: seen.append(grad.clone()))
            seen.append(output.detach().clone())

    model.classifier.register_forward_hook(keep_grad)
    sandwich_backward(
        model,
        images,
        targets,
        step_archs(model.space, seed=0, step=0, num_random=2),
        label_smoothing=0.0,
        inplace_distill=True,
    )
    logits, grad = seen
    own = torch.nn.functional.cross_entropy(logits.requires_grad_(), targets)
    (expected,) = torch.autograd.grad(own, logits)
    torch.testing.assert_close(grad, expected)  # no extra gradient from the students' soft targets


def test_dropout_is_active_only_for_the_largest():
    model = tiny_model(drop_rate=0.5)
    images, targets = batch()
    archs = step_archs(model.space, seed=0, step=0, num_random=2)
    record = []
    model.classifier.register_forward_pre_hook(
        lambda m, args: record.append((model.active_arch, model.regularize))
    )
    sandwich_backward(model, images, targets, archs)
    assert record == [(a, a == model.space.largest()) for a in archs]
    # and the flag really drops features: the largest is stochastic in training, the smallest is not
    model.train()
    outs = {}
    for arch in (model.space.largest(), model.space.smallest()):
        model.set_active(arch, regularize=arch == model.space.largest())
        x = resize_to(images, arch.resolution)
        outs[arch] = torch.equal(model(x), model(x))
    assert outs == {model.space.largest(): False, model.space.smallest(): True}
