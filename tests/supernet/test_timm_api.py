"""Extracted subnets are full timm citizens: pretrained_cfg, timm's data and training tools, TorchScript,
saving without pickle (reloaded in a fresh process), and the stock MobileNetV2-1.0 as a named member."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from timm.data import create_transform, resolve_data_config

from supernet import (
    ElasticMobileNetV2,
    Preprocessing,
    SearchSpace,
    extract_subnet,
    load_subnet,
    save_subnet,
    save_subnet_for_hf,
)
from supernet.named import named_arch
from supernet.subnet_io import SubnetFileError
from tests.supernet.test_subnet import randomized_supernet

TINY = Path(__file__).parents[1] / "spaces" / "tiny.yaml"
LABELS = tuple(f"c{i}" for i in range(10))


@pytest.fixture(scope="module")
def contract() -> Preprocessing:
    return Preprocessing((3, 16, 16), (0.4, 0.5, 0.6), (0.2, 0.25, 0.3), LABELS, "bicubic", crop_pct=0.875)


@pytest.fixture(scope="module")
def subnet(contract):
    torch.manual_seed(0)
    supernet = ElasticMobileNetV2(SearchSpace.load(TINY), num_classes=10, in_chans=3).eval()
    return extract_subnet(supernet, supernet.space.smallest(), preprocessing=contract).eval()


def test_pretrained_cfg_drives_timm_data_pipeline(subnet, contract):
    cfg = resolve_data_config({}, model=subnet)
    res = subnet.subnet_args["arch"]["resolution"]
    assert cfg["input_size"] == (3, res, res) and cfg["interpolation"] == "bicubic"
    assert cfg["mean"] == contract.mean and cfg["std"] == contract.std and cfg["crop_pct"] == 0.875
    assert subnet.pretrained_cfg["label_names"] == list(LABELS) and subnet.pretrained_cfg["num_classes"] == 10
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (23, 31, 3), dtype=np.uint8))
    ours = contract.at(res).eval_transform()(image)
    theirs = create_transform(**cfg)(image)
    assert ours.shape == (3, res, res) and torch.equal(ours, theirs)


def test_timm_tools_work_on_a_subnet(subnet, tmp_path):
    from timm.utils import ModelEmaV3

    model = extract_subnet(  # a copy we may change
        ElasticMobileNetV2(SearchSpace.load(TINY), num_classes=10, in_chans=3).eval(),
        SearchSpace.load(TINY).largest(),
    ).eval()
    x = torch.randn(2, 3, 16, 16)
    feats = model.forward_features(x)
    assert feats.shape == (2, model.num_features, 2, 2)  # total stride 8
    scripted = torch.jit.script(model)
    torch.testing.assert_close(scripted(x), model(x))
    ema = ModelEmaV3(model, decay=0.9)
    ema.update(model, step=1)
    torch.testing.assert_close(ema.module(x), model(x))
    model.reset_classifier(5)
    assert model(x).shape == (2, 5) and model.num_classes == 5
    # save_for_hf: timm's Hugging Face layout, all of it or nothing
    out = tmp_path / "hf"
    try:
        save_subnet_for_hf(subnet, out)
    except SubnetFileError as e:
        assert "save_for_hf" in str(e) and not out.exists()
    else:
        config = json.loads((out / "config.json").read_text())
        assert config["pretrained_cfg"]["input_size"][0] == 3 and (out / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["hf"])  # no staging folder left
    with pytest.raises(SubnetFileError, match="already exists"):
        save_subnet_for_hf(subnet, tmp_path)


def test_save_and_load_in_a_fresh_process_without_pickle(subnet, tmp_path):
    folder = save_subnet(subnet, tmp_path / "shipped").parent
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "model.safetensors"]
    config = json.loads((folder / "model.json").read_text())  # plain JSON: timm block strings, arguments
    assert config["model_args"]["arch_def"][1][0].startswith("ir_r1_k") and config["pretrained_cfg"]
    x = torch.randn(3, 3, 16, 16)
    np.save(tmp_path / "x.npy", x.numpy())
    script = (
        "import sys, numpy as np, torch\ntorch.set_num_threads(1)\n"
        "from supernet import load_subnet\n"
        f"model = load_subnet({str(folder)!r})\n"
        f"x = torch.from_numpy(np.load({str(tmp_path / 'x.npy')!r}))\n"
        "with torch.no_grad(): y = model(x)\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, y.numpy())\n"
        "print(type(model).__name__, model.pretrained_cfg['label_names'][0])\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "EfficientNet c0"
    with torch.no_grad():
        expected = subnet(x).numpy()
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)
    reloaded = load_subnet(folder / "model.json")
    assert reloaded.pretrained_cfg == json.loads(json.dumps(subnet.pretrained_cfg))
    (folder / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(SubnetFileError, match="do not match the SHA-256"):
        load_subnet(folder)


def _cfg(**change):
    return lambda c: c["pretrained_cfg"].update(change)


def _args(**change):
    return lambda c: c["model_args"].update(change)


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda c: c.update(weights="../model.safetensors"), "must be a file name beside it"),
        (lambda c: c.update(pretrained_cfg="x"), "pretrained_cfg must be an object"),
        (_cfg(label_names="c0c1c2c3c4c5c6c7c8c9"), "label_names must be a list of strings"),  # was 20 classes
        (_cfg(label_names=list(LABELS[:9])), "describes 9 class names"),
        (_cfg(num_classes=9), "num_classes 9"),
        (_cfg(input_size=[1, 16, 16]), "mean and std need 1 values each"),
        (_cfg(input_size=[]), "lacks a usable preprocessing field"),
        (_cfg(mean="x"), "mean must be a list of numbers"),
        (_cfg(interpolation="nearest-exact"), "interpolation must be one of"),
        (_cfg(first_conv=3), "first_conv must be a string"),
        (_args(drop_rate=1.5), r"drop_rate must be in \[0, 1\)"),
        (_args(fix_stem="x"), "fix_stem must be true or false"),
        (_args(arch_def="x"), "cannot be rebuilt"),  # timm's decoder asserted (a traceback)
        (_args(arch_def=[]), "cannot be rebuilt"),
        (lambda c: c.update(model_args=[]), "model_args must be an object"),
    ],
)
def test_an_edited_model_json_is_refused_in_one_line(subnet, tmp_path, edit, words):
    """Each of these loaded (the cfg is what timm's data config and a user's preprocessing read) or was a
    traceback; the weights' SHA-256 cannot catch them."""
    folder = save_subnet(subnet, tmp_path / "shipped").parent
    config = json.loads((folder / "model.json").read_text())
    edit(config)
    (folder / "model.json").write_text(json.dumps(config))
    with pytest.raises(SubnetFileError, match=words):
        load_subnet(folder)


def test_mobilenetv2_100_is_a_member_and_loads_strictly_into_timm():
    supernet = randomized_supernet("mbv2-imagenet")
    arch = named_arch("mobilenetv2_100", supernet.space)
    assert arch.resolution == 224 and arch.depths == (2, 3, 4, 3, 3, 1)
    ours = extract_subnet(supernet, arch).eval()
    stock = timm.create_model("mobilenetv2_100", pretrained=False, num_classes=10, in_chans=3).eval()
    stock.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(stock(x), ours(x))
