"""ONNX export of a (randomly initialised) supernet's subnet: files, checks, card, int8, failure hygiene."""

import json
import random

import numpy as np
import onnx
import pytest
import torch

from extract.errors import VerificationError
from extract.export import LatencySpec, export_arch
from extract.files import sha256_file
from extract.onnx_io import ort_session
from supernet import ArchConfig


@pytest.fixture(scope="module")
def arch(space):
    return space.sample(random.Random(5))


@pytest.fixture(scope="module")
def exported(tmp_path_factory, supernet, arch, eval_data, mmacs):
    out = tmp_path_factory.mktemp("export") / "deploy"
    latency = LatencySpec("macs", predict_ms=mmacs, table={"path": "stand-in"})
    card = export_arch(
        supernet,
        arch,
        out_dir=out,
        data=eval_data,
        latency=latency,
        source={"checkpoint": "random-init"},
        int8=True,
    )
    return out, card


def test_export_writes_verified_files_and_a_complete_card(exported, arch, space, mmacs, eval_data):
    out, card = exported
    assert sorted(p.name for p in out.iterdir()) == [
        "arch.json",
        "card.json",
        "model.int8.onnx",
        "model.json",
        "model.onnx",
        "model.safetensors",
    ]
    assert json.loads((out / "card.json").read_text()) == json.loads(json.dumps(card))
    assert card["arch_string"] == str(arch) and ArchConfig.load(out / "arch.json") == arch
    assert card["space"]["fingerprint"] == space.fingerprint()
    assert card["verification"]["onnx_checker"] == "passed"
    assert card["verification"]["parity_max_abs_diff"] <= 1e-4
    assert card["latency"]["predicted"] == pytest.approx(mmacs(arch))
    assert card["latency"]["measured_ms"] is None  # a count target is not timed
    assert card["macs"] == pytest.approx(mmacs(arch) * 1e6)
    assert 0 <= card["accuracy"]["val"] <= 1 and card["accuracy"]["test_images"] == len(eval_data.test)
    for name, entry in card["files"].items():
        assert entry["sha256"] == sha256_file(out / name)
    pre = card["preprocessing"]
    assert pre["shape"] == ["batch", 1, arch.resolution, arch.resolution]
    assert pre["mean"] == [0.5] and pre["std"] == [0.25] and pre["layout"] == "NCHW"
    assert pre["interpolation"] == "bilinear" and pre["resize_shorter_side_to"] == arch.resolution
    assert pre["center_crop"] == [arch.resolution] * 2 and pre["scale"] == 1 / 255
    assert pre["label_names"] == [str(i) for i in range(10)] and pre["channel_order"] == "L"
    props = {p.key: p.value for p in onnx.load(out / "model.onnx").metadata_props}
    assert json.loads(props["preprocessing"])["input_size"] == [1, arch.resolution, arch.resolution]
    assert props["arch"] == str(arch)
    assert {"torch", "onnxruntime", "timm"} <= set(card["versions"])


def test_onnx_has_static_resolution_and_dynamic_batch(exported, arch, supernet, eval_data):
    out, _ = exported
    (inp,) = onnx.load(out / "model.onnx").graph.input
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, arch.resolution, arch.resolution]
    session = ort_session(out / "model.onnx")
    for batch in (1, 3):
        x = eval_data.val.images(arch.resolution)[:batch]
        assert session.run(None, {"input": x.numpy()})[0].shape == (batch, 10)


def test_int8_model_is_quantized_and_reported(exported):
    out, card = exported
    ops = {n.op_type for n in onnx.load(out / "model.int8.onnx").graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert card["int8"]["file"] == "model.int8.onnx" and 0 <= card["int8"]["accuracy"]["val"] <= 1
    assert (out / "model.int8.onnx").stat().st_size < (out / "model.onnx").stat().st_size / 2


def test_exported_onnx_equals_the_supernet_subnet(exported, arch, supernet, eval_data):
    """After export the supernet holds the recalibrated stats of `arch`; the file reproduces it."""
    out, _ = exported
    x = eval_data.val.images(arch.resolution)
    supernet.set_active(arch)
    with torch.no_grad():
        expected = supernet.eval()(x).numpy()
    got = ort_session(out / "model.onnx").run(None, {"input": x.numpy()})[0]
    assert np.abs(got - expected).max() <= 1e-4


def test_failed_parity_leaves_nothing_behind(tmp_path, supernet, arch, eval_data):
    out = tmp_path / "deploy"
    with pytest.raises(VerificationError, match=r"differ by .* \(allowed 1e-12\)"):
        export_arch(supernet, arch, out_dir=out, data=eval_data, latency=LatencySpec("macs"), atol=1e-12)
    assert list(tmp_path.iterdir()) == []


def test_failed_export_keeps_a_previous_export_intact(tmp_path, supernet, arch, eval_data, mmacs):
    out = tmp_path / "deploy"
    export_arch(supernet, arch, out_dir=out, data=eval_data, latency=LatencySpec("macs", predict_ms=mmacs))
    before = {p.name: sha256_file(p) for p in out.iterdir()}
    with pytest.raises(VerificationError):
        export_arch(
            supernet,
            arch,
            out_dir=out,
            data=eval_data,
            latency=LatencySpec("macs", predict_ms=mmacs),
            atol=1e-12,
        )
    assert {p.name: sha256_file(p) for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["deploy"]


@pytest.mark.slow
def test_dynamo_exporter_passes_the_same_checks(tmp_path, supernet, arch, eval_data):
    card = export_arch(
        supernet, arch, out_dir=tmp_path / "d", data=eval_data, latency=LatencySpec("macs"), dynamo=True
    )
    assert (
        card["verification"]["exporter"] == "dynamo" and card["verification"]["parity_max_abs_diff"] <= 1e-4
    )
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == [
        "arch.json", "card.json", "model.json", "model.onnx", "model.safetensors"
    ]  # fmt: skip


def test_disk_full_during_export_names_the_folder_and_keeps_the_earlier_export(
    tmp_path, supernet, arch, eval_data, mmacs, monkeypatch
):
    import errno

    import extract.export as export_module
    from supernet.errors import OutputError

    out = tmp_path / "deploy"
    export_arch(
        supernet, arch, out_dir=out, data=eval_data, latency=LatencySpec("macs", predict_ms=mmacs), int8=True
    )
    before = {p.name: sha256_file(p) for p in out.iterdir()}

    def full_disk(subnet, path, *args, **kwargs):
        path.write_bytes(b"\0" * 100)  # a partial model.onnx in the staging folder
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export_module, "export_onnx", full_disk)
    with pytest.raises(OutputError, match=r"deploy: the disk is full; the earlier export in .* is unchanged"):
        export_arch(
            supernet, arch, out_dir=out, data=eval_data, latency=LatencySpec("macs", predict_ms=mmacs)
        )
    assert {p.name: sha256_file(p) for p in out.iterdir()} == before  # no staging folder, nothing replaced


def test_a_new_export_never_keeps_files_of_an_earlier_one(tmp_path, supernet, arch, eval_data, mmacs):
    out = tmp_path / "deploy"
    export_arch(
        supernet, arch, out_dir=out, data=eval_data, latency=LatencySpec("macs", predict_ms=mmacs), int8=True
    )
    assert (out / "model.int8.onnx").is_file()
    export_arch(
        supernet, arch, out_dir=out, data=eval_data, latency=LatencySpec("macs", predict_ms=mmacs)
    )  # fp32 only, this time
    assert sorted(p.name for p in out.iterdir()) == [
        "arch.json", "card.json", "model.json", "model.onnx", "model.safetensors"
    ]  # fmt: skip
