"""Models trained alone for the issue-11 comparison (experiments/fashion_mnist_full.py): the MobileNetV2
family and extracted archs from scratch, with the supernet run's recipe, on the CPU or a GPU; and which
archs the supernet's searches shipped (their model cards), small / middle / large.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from static_baseline import train_static  # noqa: E402

from latency.measure import export_onnx  # noqa: E402
from supernet import ArchConfig, SearchSpace  # noqa: E402
from supernet.files import atomic_write, write_json  # noqa: E402
from supernet.subnet import build_subnet  # noqa: E402
from supernet.train.config import TrainConfig  # noqa: E402
from supernet.train.data import load_data  # noqa: E402

SCRATCH_PICKS = ("small", "middle", "large")


def train_alone(model, path: Path, config: TrainConfig, resolution: int) -> None:
    """Train one static model (resumable per epoch), save its result JSON and ONNX; skip if done."""
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    bundle = load_data(
        "fashion-mnist", config.data_dir, seed=config.seed, val_fraction=config.val_fraction, augment=True
    )
    device = torch.device(config.device)
    model.to(device, memory_format=torch.channels_last if device.type == "cuda" else torch.contiguous_format)
    result = train_static(model, bundle, config, resolution, state_path=path.with_suffix(".state.pt"))
    model.cpu().to(memory_format=torch.contiguous_format)  # MACs and ONNX export from the CPU copy
    x = torch.zeros(1, 1, resolution, resolution)
    from fvcore.nn import FlopCountAnalysis

    flops = (
        FlopCountAnalysis(model.eval(), x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    )
    result["macs"] = int(
        sum(v for op, v in flops.by_operator().items() if op in ("conv", "linear", "addmm", "matmul"))
    )
    result["params"] = sum(p.numel() for p in model.parameters())
    result["processes"], result["threads"], result["device"] = 1, torch.get_num_threads(), config.device
    write_onnx(model, path.with_suffix(".onnx"), resolution)
    write_json(path, result)
    path.with_suffix(".state.pt").unlink(missing_ok=True)


def write_onnx(model, path: Path, resolution: int) -> None:
    """`model` (on the CPU) exported for 1-channel `resolution`-px input, written atomically: what the measure
    stage times."""
    onnx = export_onnx(model.eval(), torch.zeros(1, 1, resolution, resolution))
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(onnx))


def shipped_cards(root: Path) -> list[dict]:
    """The model cards of the pareto stage's searches, by budget."""
    return sorted(
        (json.loads(p.read_text()) for p in (root / "deploy").glob("b*/card.json")),
        key=lambda c: c["search"]["budget"],
    )


def picked_cards(root: Path) -> dict[str, dict]:
    """The small, middle and large extracted archs (by budget) for the from-scratch comparison."""
    cards = shipped_cards(root)
    if not cards:
        return {}
    return dict(zip(SCRATCH_PICKS, (cards[0], cards[len(cards) // 2], cards[-1])))


def reuse_alone(src: Path, path: Path, model, resolution: int) -> None:
    """A model an earlier run trained alone with the same recipe: its result JSON, and for the measure stage
    the ONNX file of an untrained model of the same architecture (fp32 latency does not depend on the
    weights); a note in the JSON says so. Skip if done."""
    if path.is_file():
        return
    result = json.loads(src.read_text())
    note = f"trained by an earlier run with this recipe ({src}); latency timed on an untrained copy"
    result["note"] = "; ".join(filter(None, [result.get("note"), note]))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_onnx(model, path.with_suffix(".onnx"), resolution)
    write_json(path, result)


def train_arch_alone(
    arch: ArchConfig,
    path: Path,
    config: TrainConfig,
    space: SearchSpace | None = None,
    reuse: Path | None = None,
) -> None:
    """An extracted arch of `space` (default `mbv2-small`) trained from scratch alone (seeded by
    `config.seed`), or with `reuse` an earlier run's result for the same arch and recipe: checked to be the
    same arch with the same parameter count in this space, copied with a note; skip if done."""
    torch.manual_seed(config.seed)
    space = space or SearchSpace.preset("mbv2-small")
    model = build_subnet(space, arch, 10, 1, drop_rate=config.drop_rate)
    if reuse is None:
        train_alone(model, path, config, arch.resolution)
        return
    if path.is_file():
        return
    result = json.loads(reuse.read_text())
    params = sum(p.numel() for p in model.parameters())
    if result.get("arch") != str(arch) or result.get("params") != params:
        sys.exit(
            f"error: {reuse} holds arch {result.get('arch')} ({result.get('params')} parameters), not {arch} ({params})"
        )
    note = f"trained from scratch by an earlier run with this recipe ({reuse})"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {**result, "note": "; ".join(filter(None, [result.get("note"), note]))})


def scratch_picks(args, root: Path) -> dict[str, dict]:
    """tag -> {"arch", "budget"}: the pareto stage's small/middle/large cards, or --scratch-archs (a JSON file
    of the same, e.g. the archs an earlier run's search extracted), optionally restricted by --scratch-tags."""
    if args.scratch_archs:
        picks = json.loads(Path(args.scratch_archs).read_text())
    else:
        cards = picked_cards(root)
        picks = {t: {"arch": c["arch_string"], "budget": c["search"]["budget"]} for t, c in cards.items()}
    if not picks:
        sys.exit("error: stage scratch needs the pareto stage's cards in <out>/deploy/b*/card.json")
    return {t: picks[t] for t in (args.scratch_tags.split(",") if args.scratch_tags else picks)}
