"""Compare latency tables layer by layer (a kit-made table against a `build`-made one, or an int8 table
against an fp32 one) and whole subnets from kit timings, as markdown on stdout. No timing happens here.

    .venv/bin/python experiments/latency_kit_compare.py layers A.json B.json     # per-layer agreement of B vs A
    .venv/bin/python experiments/latency_kit_compare.py int8 FP32.json INT8.json  # int8/fp32 by layer group
    .venv/bin/python experiments/latency_kit_compare.py subnets FP32_TIMINGS.json INT8_TIMINGS.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latency.table import LatencyTable  # noqa: E402


def _ratios(a: LatencyTable, b: LatencyTable) -> dict[str, float]:
    if set(a.entries) != set(b.entries):
        raise SystemExit("the tables hold different layers")
    return {k: b.entries[k] / a.entries[k] for k in a.entries}


def _fmt(t: LatencyTable) -> str:
    c = t.correction
    return f"{c.scale:.4f} * sum {c.per_layer_ms:+.5f} ms * layers {c.offset_ms:+.5f} ms"


def layers(a_path: str, b_path: str) -> str:
    from scipy.stats import kendalltau, spearmanr

    a, b = LatencyTable.load(a_path), LatencyTable.load(b_path)
    r = _ratios(a, b)
    keys = sorted(r)
    dev = [100 * (v - 1) for v in r.values()]
    rho = spearmanr([a.entries[k] for k in keys], [b.entries[k] for k in keys]).statistic
    tau = kendalltau([a.entries[k] for k in keys], [b.entries[k] for k in keys]).statistic
    return "\n".join([
        f"| per-layer comparison: {Path(b_path).name} vs {Path(a_path).name} | value |",
        "|---|---|",
        f"| layers | {len(r)} |",
        f"| median ratio | {statistics.median(r.values()):.3f} |",
        f"| mean abs % difference | {statistics.fmean(abs(d) for d in dev):.2f} |",
        f"| within ±5% / ±10% | {100 * sum(abs(d) <= 5 for d in dev) / len(dev):.0f}% / "
        f"{100 * sum(abs(d) <= 10 for d in dev) / len(dev):.0f}% |",
        f"| Spearman rho / Kendall tau of the entries | {rho:.4f} / {tau:.3f} |",
        f"| correction of A | {_fmt(a)} |",
        f"| correction of B | {_fmt(b)} |",
    ])  # fmt: skip


def int8(fp32_path: str, int8_path: str) -> str:
    """int8/fp32 per layer, grouped by kind, input resolution and MACs: where quantisation pays."""
    from latency.counts import layer_macs_params
    from latency.layers import space_layers

    fp, q = LatencyTable.load(fp32_path), LatencyTable.load(int8_path)
    specs = {s.key: s for s in space_layers(fp.space, fp.in_chans, fp.num_classes)}
    r = _ratios(fp, q)
    groups: dict[str, list[float]] = defaultdict(list)
    for k, v in r.items():
        s = specs[k]
        macs = layer_macs_params(s)[0] / 1e6
        bucket = "<0.5" if macs < 0.5 else "0.5-2" if macs < 2 else "2-8" if macs < 8 else ">=8"
        groups[f"kind {s.kind}"].append(v)
        groups[f"input {s.in_res}x{s.in_res}"].append(v)
        groups[f"MMACs {bucket}"].append(v)
        if s.kind == "mbconv":
            groups[f"mbconv kernel {s.kernel_size}"].append(v)
            groups[
                f"mbconv expanded width {'<=96' if s.mid_chs <= 96 else '97-384' if s.mid_chs <= 384 else '>384'}"
            ].append(v)
    rows = [
        f"| {g} | {len(v)} | {statistics.median(v):.2f} | {100 * sum(x < 1 for x in v) / len(v):.0f}% |"
        for g, v in sorted(groups.items())
    ]
    return "\n".join([
        "| layer group | layers | median int8/fp32 time | int8 faster |",
        "|---|---|---|---|",
        f"| all | {len(r)} | {statistics.median(r.values()):.2f} | {100 * sum(x < 1 for x in r.values()) / len(r):.0f}% |",
        *rows,
    ])  # fmt: skip


def subnets(fp32_timings: str, int8_timings: str, stat: str = "median") -> str:
    """int8/fp32 end to end on the kits' whole subnets (both kits hold the same fit and held-out archs)."""
    a, b = (json.loads(Path(p).read_text())["times"] for p in (fp32_timings, int8_timings))
    names = sorted(n for n in a if not n.startswith("mbconv") and n.split("-")[0] in ("fit", "validate"))
    r = [b[n][stat] / a[n][stat] for n in names]
    fp = [a[n][stat] for n in names]
    small = [x for x, t in zip(r, fp) if t <= statistics.median(fp)]
    large = [x for x, t in zip(r, fp) if t > statistics.median(fp)]
    return "\n".join([
        f"| whole subnets ({stat}) | subnets | median int8/fp32 | int8 faster |",
        "|---|---|---|---|",
        f"| all | {len(r)} | {statistics.median(r):.2f} | {100 * sum(x < 1 for x in r) / len(r):.0f}% |",
        f"| faster half in fp32 ({min(fp):.3f}-{statistics.median(fp):.3f} ms) | {len(small)} | "
        f"{statistics.median(small):.2f} | {100 * sum(x < 1 for x in small) / len(small):.0f}% |",
        f"| slower half in fp32 (up to {max(fp):.3f} ms) | {len(large)} | {statistics.median(large):.2f} | "
        f"{100 * sum(x < 1 for x in large) / len(large):.0f}% |",
    ])  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["layers", "int8", "subnets"])
    p.add_argument("a")
    p.add_argument("b")
    args = p.parse_args()
    print({"layers": layers, "int8": int8, "subnets": subnets}[args.what](args.a, args.b))


if __name__ == "__main__":
    main()
