"""The step benchmarks run end to end at a toy size and write their tables (timings are not checked)."""

import subprocess
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def _run(script: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(EXPERIMENTS / script), *args], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_slicing_bench_variants_compute_the_supernets_output(tmp_path):
    out = tmp_path / "slicing.md"
    stdout = _run("bench_slicing.py", "--batch", "2", "--rounds", "2", "--iters", "1", "--out", str(out))
    text = out.read_text()
    for variant in (
        "supernet",
        "no BN slicing",
        "no conv slicing",
        "no slicing",
        "leaf copies per step",
        "stock timm twin",
    ):
        assert f"| {variant} |" in text and variant in stdout
    assert "`r24_" in text  # the smallest arch is named


def test_supernet_step_bench_profiles_the_smallest(tmp_path):
    out = tmp_path / "step.md"
    _run(
        "bench_supernet_step.py", "--in-chans", "1", "--batch", "2", "--rounds", "1", "--iters", "1",
        "--threads", "1", "--channels-last", "--profile", "1", "--out", str(out),
    )  # fmt: skip
    text = out.read_text()
    assert text.count("| random-") == 3 and "| smallest |" in text and "| largest |" in text
    rows = {ln.split(" | ")[0]: ln.split(" | ") for ln in text.splitlines() if ln.startswith("| ")}
    assert rows["| largest"][8] == "as alone"  # first in the sandwich: nothing before it
    fwd, bwd = rows["| smallest"][6].split(" / ")  # the step split at the loss
    assert float(fwd) > 0 and float(bwd) > 0
    ms, twin_ms, ratios = rows["| smallest"][8].split(", ")
    ratio, alone = ratios.split(" (")
    assert float(ms) > 0 and float(twin_ms) > 0 and float(ratio) > 0 and float(alone.rstrip(")")) > 0
    assert "The same sandwich on static twins" in text
    section = text.split("## Where the smallest subnet's extra time goes")[1]
    assert "| **all ops** |" in section
    assert section.count("\n| `aten::") >= 5  # per-op rows (slicing ops no longer need to be among them)


@pytest.mark.parametrize("alias", [True, False])
def test_in_sandwich_steps_the_subnet_onto_the_largest_subnets_gradients(alias):
    import torch

    sys.path.insert(0, str(EXPERIMENTS))
    from bench_supernet_step import InSandwich

    from supernet import ElasticMobileNetV2, SearchSpace
    from supernet._alias import aliasing

    space = SearchSpace.preset("mbv2-small")
    torch.manual_seed(0)
    net = ElasticMobileNetV2(space, num_classes=10, in_chans=1).eval()  # eval: BN uses fixed statistics
    x_big, x = torch.randn(2, 1, 32, 32), torch.randn(2, 1, 24, 24)
    grads = {}
    with aliasing(alias):
        for arch, inp in ((space.largest(), x_big), (space.smallest(), x)):
            net.zero_grad(set_to_none=True)
            net.set_active(arch)
            net(inp).sum().backward()
            grads[arch.resolution] = {
                n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None and p.grad.any()
            }
        model = InSandwich(net, space.smallest(), x_big)
        model.before_step()
        model(x).sum().backward()
    for n, p in net.named_parameters():
        want = grads[32][n] + grads[24].get(n, 0)
        torch.testing.assert_close(p.grad, want, rtol=1e-5, atol=1e-6)


def test_twin_in_sandwich_runs_the_static_largest_first_and_starts_from_cleared_gradients():
    import torch

    sys.path.insert(0, str(EXPERIMENTS))
    from bench_supernet_step import TwinInSandwich

    torch.manual_seed(0)
    twin, largest = torch.nn.Linear(3, 2), torch.nn.Linear(4, 2)
    x, x_big = torch.randn(5, 3), torch.randn(5, 4)
    twin(x).sum().backward()  # stale gradients a step must not add onto
    model = TwinInSandwich(twin, largest, x_big)
    model.before_step()
    assert twin.weight.grad is None and largest.weight.grad is not None
    model(x).sum().backward()
    torch.testing.assert_close(twin.weight.grad, torch.ones(2, 1) * x.sum(0))
    torch.testing.assert_close(largest.weight.grad, torch.ones(2, 1) * x_big.sum(0))


def test_rotation_puts_every_model_in_every_position():
    sys.path.insert(0, str(EXPERIMENTS))
    from bench_supernet_step import rotation

    names = ["a", "b", "c"]
    orders = [rotation(names, r) for r in range(6)]
    for pos in range(3):
        assert {o[pos] for o in orders} == set(names)
    assert all(sorted(o) == names for o in orders)


def test_train_throughput_bench_runs_each_configuration_in_its_own_processes(tmp_path):
    from tests.fake_data import random_fashion_mnist

    data = random_fashion_mnist(tmp_path / "fm", n_train=256, n_test=20)
    out = tmp_path / "throughput.md"
    stdout = _run(
        "bench_train_throughput.py", "--data", str(data), "--configs", "1x1 b64", "--rounds", "2",
        "--steps", "1", "--warmup", "1", "--out", str(out),
    )  # fmt: skip
    text = out.read_text()
    assert "| `1x1 b64` (old default) |" in text and "| `2x1 b64 +C +P` (new default) |" in text
    assert text.count(" MiB |") == 2  # each configuration's peak memory, from its own processes
    assert "--configs '1x1 b64'" in text  # the command as typed, quoted
    assert "new/old images-per-second ratio" in stdout
