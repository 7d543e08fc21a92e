"""The training-cost section of the issue-11 report: CPU-hours on a CPU run, GPU minutes on a GPU run.

A CPU run's models train one after another (or beside long runs) and are compared by measured process CPU
time. A GPU run (experiments/gpu_check.sh) trains every model at once on one GPU, so each model's cost is
its wall-clock training time on the shared GPU, with its images per second.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from full_stats import cpu_cost, plateau


def read_json(path: Path):
    """A JSON file's data, or None where the file does not exist (yet)."""
    return json.loads(path.read_text()) if path.is_file() else None


def supernet_epoch_cpu(root: Path, epochs: list[dict]) -> list[float | None]:
    """Each epoch's CPU seconds (all ranks): the trainer's `cpu_time_s`, else from `<root>/supernet_cpu.log`
    (experiments/cpu_monitor.sh: "unix-time metrics-lines cumulative-cpu-s" samples of the run's process
    group, restarting at 0 with each resumed process): a segment's CPU spread evenly over the epochs it
    finished; None for epochs no measurement covers."""
    if any("cpu_time_s" in r for r in epochs):
        return [r.get("cpu_time_s") for r in epochs]
    out: dict[int, float] = {}
    log, metrics = root / "supernet_cpu.log", root / "supernet" / "metrics.jsonl"
    if log.is_file() and metrics.is_file():
        lines = [json.loads(x) for x in metrics.read_text().splitlines() if x.strip()]

        def done(n: int) -> int:
            return max([r["epoch"] for r in lines[:n] if "epoch_time_s" in r], default=0)

        samples = [tuple(map(float, x.split())) for x in log.read_text().splitlines() if x.strip()]
        segments, seg = [], []
        for s in samples:
            if seg and s[2] < seg[-1][2]:
                segments.append(seg)
                seg = []
            seg.append(s)
        segments += [seg] if seg else []
        for seg in segments:
            first, last = done(int(seg[0][1])), done(int(seg[-1][1]))
            for e in range(first + 1, last + 1):
                out[e] = seg[-1][2] / (last - first)
    return [out.get(r["epoch"]) for r in epochs]


def static_cost(result: dict) -> tuple[float, str]:
    """CPU-hours of one model trained alone (experiments/static_baseline.py's result)."""
    hist = result["epochs"]
    return cpu_cost(
        [h.get("cpu_time_s") for h in hist], [h["epoch_time_s"] for h in hist], result["processes"]
    )


def _config_device(root: Path) -> str:
    """The device in the supernet's config.json (the last process's: a resumed run rewrites it)."""
    return str((read_json(root / "supernet" / "config.json") or {}).get("device", "cpu")).split(":")[0]


def epoch_devices(root: Path, epochs: list[dict]) -> list[str]:
    """Where each supernet epoch ran ("cuda" or "cpu"): the epoch record's `device` (the trainer writes it);
    for records from before it did, `<root>/supernet_devices.json` ({"first-last": device}, e.g. a GPU run
    continued on a CPU, written from the two runs' logs), else the run's config (the last process's)."""
    fallback = _config_device(root)
    ranges = read_json(root / "supernet_devices.json") or {}

    def device(r: dict) -> str:
        for span, dev in ranges.items():
            first, _, last = span.partition("-")
            if int(first) <= r["epoch"] <= int(last or first):
                return dev
        return fallback

    return [str(r.get("device") or device(r)).split(":")[0] for r in epochs]


def on_gpu(root: Path, epochs: list[dict]) -> bool:
    """True where most of the supernet's epochs (`epochs`, its per-epoch records) ran on a GPU; before any
    epoch, where its config says it trains on one."""
    if not epochs:
        return _config_device(root) == "cuda"
    return epoch_devices(root, epochs).count("cuda") * 2 > len(epochs)


def _plateau_cells(accs: list[float]) -> str:
    ok, move = plateau(accs)
    return f"{move:.2f} | {'yes' if ok else 'no'}"


def cost_lines(root: Path, epochs: list[dict], world: int, base: dict[str, dict]) -> list[str]:
    """The section's lines; `epochs` are the supernet's per-epoch records, `world` its process count, `base`
    the family's results by width."""
    if on_gpu(root, epochs):
        return _gpu_lines(root, epochs, base)
    lines = [
        "## Training cost (CPU-hours: measured process CPU time of every process)",
        "",
        "| model | processes | epochs done | CPU-hours | how measured | last-2-epoch val movement (points) | plateaued (< 0.3) |",
        "|---|---:|---:|---:|---|---:|---|",
    ]
    if epochs:
        hours, how = cpu_cost(supernet_epoch_cpu(root, epochs), [r["epoch_time_s"] for r in epochs], world)
        lines.append(
            f"| supernet (one run; largest subnet's val) | {world} | {len(epochs)} | {hours:.2f} | {how} | "
            f"{_plateau_cells([r['val_acc_largest'] for r in epochs])} |"
        )
    family = 0.0
    for w, r in base.items():
        hours, how = static_cost(r)
        family += hours
        lines.append(
            f"| MobileNetV2 x{w} alone | {r['processes']} | {len(r['epochs'])} | {hours:.2f} | {how} | "
            f"{_plateau_cells([h['val_acc'] for h in r['epochs']])} |"
        )
    if base:
        lines.append(f"| **family, {len(base)} models** | | | **{family:.2f}** | | | |")
    return lines


def _gpu_lines(root: Path, epochs: list[dict], base: dict[str, dict]) -> list[str]:
    lines = [
        "## Training cost (GPU minutes: each model's training wall time on one GPU)",
        "",
        "| model | epochs done | GPU minutes | images/s | last-2-epoch val movement (points) | plateaued (< 0.3) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    devices = epoch_devices(root, epochs)
    gpu = [r for r, d in zip(epochs, devices) if d == "cuda"]
    if gpu:
        wall = sum(r["epoch_time_s"] for r in gpu)
        ips = sum(r["images_per_s"] * r["epoch_time_s"] for r in gpu) / wall
        lines.append(
            f"| supernet (one run; largest subnet's val) | {len(gpu)} of {len(epochs)} | {wall / 60:.1f} | "
            f"{ips:.0f} | {_plateau_cells([r['val_acc_largest'] for r in epochs])} |"
        )
    if cpu := [r for r, d in zip(epochs, devices) if d != "cuda"]:
        hours, how = cpu_cost([r.get("cpu_time_s") for r in cpu], [r["epoch_time_s"] for r in cpu], 1)
        lines.append(
            f"| supernet, epochs continued on the CPU ({how}) | {len(cpu)} of {len(epochs)} | "
            f"{hours:.2f} CPU-hours | {statistics.mean(r['images_per_s'] for r in cpu):.0f} | | |"
        )
    family = 0.0
    for w, r in base.items():
        family += r["train_time_s"] / 60
        lines.append(
            f"| MobileNetV2 x{w} alone | {len(r['epochs'])} | {r['train_time_s'] / 60:.1f} | "
            f"{r['images_per_s']:.0f} | {_plateau_cells([h['val_acc'] for h in r['epochs']])} |"
        )
    if base:
        lines.append(f"| **family, {len(base)} models** | | **{family:.1f}** | | | |")
    return lines
