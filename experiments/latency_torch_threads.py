"""Does timing a layer right after torch exported it, in a process whose torch thread pool is warm, differ
from the kit runner (a process with only numpy and onnxruntime)? Times every 8th layer of a kit-made table's
space the way `latency build` does, once with torch's default thread count and once with 1 thread, and
prints the ratios to the kit's entries (median statistic). Run it through `bench`.

    .venv/bin/python experiments/latency_torch_threads.py experiments/results/latency_mbv2-small-1ch_kit_median.json
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latency.layers import space_layers  # noqa: E402
from latency.measure import measure_module_ms  # noqa: E402
from latency.modules import layer_input, layer_module  # noqa: E402
from latency.table import LatencyTable  # noqa: E402
from latency.timing import Timing  # noqa: E402


def main() -> None:
    kit = LatencyTable.load(sys.argv[1])
    specs = space_layers(kit.space, kit.in_chans, kit.num_classes)[::8]
    default = torch.get_num_threads()
    print(f"{len(specs)} layers; torch default threads {default}; kit table {sys.argv[1]}")
    print("| torch threads while exporting | median ratio build-style / kit | mean abs % difference |")
    print("|---|---|---|")
    for threads in (default, 1, default):
        torch.set_num_threads(threads)
        ratios = [
            measure_module_ms(layer_module(s), layer_input(s), "ort-cpu", Timing(stat="median"))
            / kit.entries[s.key]
            for s in specs
        ]
        mad = statistics.fmean(abs(r - 1) for r in ratios) * 100
        print(f"| {threads} | {statistics.median(ratios):.3f} | {mad:.2f} |")


if __name__ == "__main__":
    main()
