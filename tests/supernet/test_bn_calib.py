"""BN recalibration: exact population statistics, the same on the supernet and its extracted subnet."""

from pathlib import Path

import torch
import yaml

from supernet import ElasticMobileNetV2, SearchSpace, extract_subnet
from supernet.train.bn_calib import recalibrate_bn
from supernet.train.evaluate import accuracy, evaluate_subnet
from supernet.train.resize import resize_to

TINY = (Path(__file__).parents[1] / "spaces" / "tiny.yaml").read_text()


def trained_looking_model():
    """A supernet whose BN running stats are garbage, as after sandwich training."""
    torch.manual_seed(0)
    model = ElasticMobileNetV2(SearchSpace.from_dict(yaml.safe_load(TINY)), num_classes=5, in_chans=3)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-3, 3)
            m.running_var.uniform_(5, 9)
            m.weight.data.uniform_(0.5, 1.5)
    return model


def images(n=40, res=16):
    return torch.randn(n, 3, res, res, generator=torch.Generator().manual_seed(2)) * 2 + 1


def test_stats_are_the_exact_population_mean_and_variance():
    model = trained_looking_model()
    arch = model.space.smallest()
    calib = images()
    recalibrate_bn(model, arch, calib, batch_size=7)  # uneven batches: still the population statistic
    with torch.no_grad():
        pre_bn = model.conv_stem(resize_to(calib, arch.resolution))
    torch.testing.assert_close(model.bn1.running_mean, pre_bn.mean((0, 2, 3)), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(
        model.bn1.running_var, pre_bn.var((0, 2, 3), unbiased=False), rtol=1e-4, atol=1e-5
    )
    assert not model.training  # left in eval mode, using the new statistics


def test_supernet_and_extracted_subnet_calibrate_to_the_same_model():
    model = trained_looking_model()
    arch = model.space.sample(__import__("random").Random(5))
    static = extract_subnet(model, arch)  # copied before calibration: garbage stats too
    calib = images()
    recalibrate_bn(model, arch, calib, batch_size=16)
    recalibrate_bn(static, None, calib, batch_size=16, resolution=arch.resolution)
    x = resize_to(images(8), arch.resolution)
    model.set_active(arch)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), static.eval()(x), rtol=1e-4, atol=1e-5)
    # the supernet's BN works in eval mode after calibration: the subnet extracted now matches too
    with torch.no_grad():
        torch.testing.assert_close(extract_subnet(model, arch).eval()(x), model(x), rtol=1e-4, atol=1e-5)


def test_calibration_rescues_accuracy_that_garbage_statistics_destroy():
    torch.manual_seed(0)
    model = trained_looking_model()
    arch = model.space.largest()
    x = images(64)
    model.set_active(arch)
    model.train()
    with torch.no_grad():
        labels = model(x).argmax(-1)  # labels = the subnet's own train-mode (batch statistics) predictions
    model.set_active(arch)
    assert accuracy(model, x, labels) < 0.9  # eval mode with the garbage statistics gets them wrong
    assert evaluate_subnet(model, arch, x, x, labels) >= 0.9


def test_calibration_logs_nothing_even_where_info_is_logged(caplog):
    """fvcore says "Computing precise BN statistics ..." at INFO per subnet; a Ray worker logs INFO to the
    console, where that line repeated on every evaluation. Our own progress says what happens."""
    import logging

    space = SearchSpace.from_dict(yaml.safe_load(TINY))
    with caplog.at_level(logging.INFO):
        recalibrate_bn(trained_looking_model(), space.smallest(), images(), batch_size=20)
    assert not [r for r in caplog.records if "precise BN" in r.getMessage()]
