"""Forward+backward time of the supernet with an arch active / the same arch as a static timm model.

Two static twins of each subnet run beside the supernet, interleaved (every model in every position of the
order), in one process (the median of the rounds is reported, so load from other processes hits all alike):

- `stock`: the extracted timm model as a user would train it (PyTorch's kernels);
- `same ops`: that model given the supernet's training-only speed-up (the C weight gradient of its 5x5/7x7
  depthwise convolutions, `supernet/_dwgrad.py`). Against it the ratio is the cost of weight sharing alone
  (slicing, elastic control flow): 1.0 is the limit.

The supernet also runs a second time with plain autograd slicing (`SUPERNET_SLICE=autograd`, the way
before its slices became aliasing leaves, `supernet/_alias.py`): the before/after of that change; and, for
every subnet but the largest, a third time where `supernet train` runs it: after the largest subnet's
forward+backward of the same step (untimed), whose gradients are then already in place (the sandwich's
order is largest, smallest, random), against the same sandwich on static twins: the same-ops twin timed
after the static largest twin's forward+backward, which sweeps the caches alike. Each static twin starts
every step with its gradients cleared, as a model trained alone (or beside other static models) does.

    python experiments/bench_supernet_step.py --space mbv2-small --batch 64 --out experiments/results/supernet_step.md
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from supernet import ElasticMobileNetV2, SearchSpace, extract_subnet
from supernet._alias import aliasing, use_alias
from supernet._dwgrad import depthwise_conv2d, kernel_sizes
from supernet.files import atomic_write_text
from supernet.train.onednn import widen_primitive_cache


def with_supernet_ops(model: torch.nn.Module) -> torch.nn.Module:
    """The static twin with the supernet's training ops (same maths, same parameters)."""
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d) and m.groups == m.in_channels == m.out_channels > 1:
            if m.kernel_size[0] in kernel_sizes() and m.padding == (m.kernel_size[0] // 2,) * 2:
                m.forward = lambda x, m=m: depthwise_conv2d(x, m.weight, m.stride)
    return model


def clear_grads(params: list[torch.Tensor]) -> None:
    """As an optimizer's `zero_grad` does (set to None over a list of parameters), not by
    `Module.zero_grad`, whose walk of the module tree costs the supernet's larger tree more and is not part
    of a training step (the trainer's optimizer clears its parameter list)."""
    for p in params:
        p.grad = None


def step_time(model: torch.nn.Module, x: torch.Tensor, iters: int) -> tuple[float, float]:
    """Seconds per forward+backward and, of them, per forward; a model with an `after_backward()` method
    has it run (and timed) too.

    Before each step, untimed: the model's `before_step()` if it has one, else its gradients cleared."""
    after_backward = getattr(model, "after_backward", None)
    params = list(model.parameters())
    before_step = getattr(model, "before_step", None) or (lambda: clear_grads(params))
    total = forward = 0.0
    for _ in range(iters):
        before_step()
        t0 = time.perf_counter()
        loss = model(x).sum()
        t1 = time.perf_counter()
        loss.backward()
        if after_backward is not None:
            after_backward()
        total += time.perf_counter() - t0
        forward += t1 - t0
    return total / iters, forward / iters


class InSandwich(torch.nn.Module):
    """`supernet` with `arch` active, each step begun as `supernet train` begins the arch's turn: gradients
    cleared, then the largest subnet's forward+backward (untimed, in `before_step`)."""

    def __init__(self, supernet: ElasticMobileNetV2, arch, x_largest: torch.Tensor) -> None:
        super().__init__()
        self.supernet, self.arch, self.x_largest = supernet, arch, x_largest

    def before_step(self) -> None:
        clear_grads(list(self.supernet.parameters()))
        self.supernet.set_active(self.supernet.space.largest())
        self.supernet(self.x_largest).sum().backward()
        self.supernet.set_active(self.arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.supernet(x)


class TwinInSandwich(torch.nn.Module):
    """The same sandwich on static twins: `twin` (a static model) with each step begun by the static largest
    twin's forward+backward (untimed), so the caches are swept as in the supernet's sandwich. Its own
    gradients start cleared: static models of a sandwich share no parameters."""

    def __init__(self, twin: torch.nn.Module, largest: torch.nn.Module, x_largest: torch.Tensor) -> None:
        super().__init__()
        self.twin, self.largest, self.x_largest = twin, largest, x_largest

    def before_step(self) -> None:
        clear_grads(list(self.twin.parameters()) + list(self.largest.parameters()))
        self.largest(self.x_largest).sum().backward()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.twin(x)


class AutogradSlicing(torch.nn.Module):
    """`model` run with plain autograd slicing instead of aliasing leaves (the same parameters)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with aliasing(False):
            return self.model(x)


def minor_faults() -> int:
    """Minor page faults of this process so far (memory the allocator got from the kernel and touched)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def rotation(names: list[str], r: int) -> list[str]:
    """Round r's order: every model takes every position (cyclic shifts, alternately reversed). A fixed
    middle position measured two identical models 9% apart (the one that always ran second was faster)."""
    order = names[r % len(names) :] + names[: r % len(names)]
    return order[::-1] if (r // len(names)) % 2 else order


def op_profile(supernet: torch.nn.Module, twin: torch.nn.Module, x: torch.Tensor, iters: int) -> list[str]:
    """Per-op difference (supernet - twin) of count and self CPU time per step, largest first."""
    from torch.profiler import ProfilerActivity, profile

    per_op = {}
    for name, model in (("super", supernet), ("twin", twin)):
        step_time(model, x, 2)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step_time(model, x, iters)
        per_op[name] = {e.key: (e.count / iters, e.self_cpu_time_total / iters) for e in prof.key_averages()}
    totals = {k: [sum(v[i] for v in ops.values()) for i in (0, 1)] for k, ops in per_op.items()}
    keys = sorted(
        set(per_op["super"]) | set(per_op["twin"]),
        key=lambda k: per_op["twin"].get(k, (0, 0))[1] - per_op["super"].get(k, (0, 0))[1],
    )
    lines = [
        "| op | calls, supernet | calls, twin | self µs, supernet | self µs, twin | difference µs |",
        "|---|---:|---:|---:|---:|---:|",
        f"| **all ops** | {totals['super'][0]:.0f} | {totals['twin'][0]:.0f} | {totals['super'][1]:.0f} | "
        f"{totals['twin'][1]:.0f} | {totals['super'][1] - totals['twin'][1]:+.0f} |",
    ]
    for k in keys[:15]:
        (n_s, t_s), (n_t, t_t) = per_op["super"].get(k, (0, 0)), per_op["twin"].get(k, (0, 0))
        lines.append(f"| `{k[:60]}` | {n_s:.0f} | {n_t:.0f} | {t_s:.0f} | {t_t:.0f} | {t_s - t_t:+.0f} |")
    return lines


def paired(t: dict[str, list[float]], a: str, b: str) -> float | None:
    """Median of the per-round time ratios a/b (None where `a` did not run)."""
    return statistics.median(x / y for x, y in zip(t[a], t[b])) if a in t else None


def bench(
    space: SearchSpace,
    *,
    in_chans: int,
    batch: int,
    rounds: int,
    iters: int,
    seed: int,
    fmt: torch.memory_format,
    profile_iters: int = 0,
) -> list[dict]:
    supernet = ElasticMobileNetV2(space, num_classes=10, in_chans=in_chans).to(memory_format=fmt).train()
    rng = random.Random(seed)
    archs = [("smallest", space.smallest()), ("largest", space.largest())]
    archs += [(f"random-{i}", space.sample(rng)) for i in range(3)]
    big = space.largest().resolution
    x_big = torch.randn(batch, in_chans, big, big).contiguous(memory_format=fmt)
    supernet.set_active(space.largest())
    largest_twin = with_supernet_ops(extract_subnet(supernet, space.largest()).to(memory_format=fmt).train())
    rows = []
    for label, arch in archs:
        supernet.set_active(arch)
        stock = extract_subnet(supernet, arch).to(memory_format=fmt).train()
        same = with_supernet_ops(extract_subnet(supernet, arch).to(memory_format=fmt).train())
        x = torch.randn(batch, in_chans, arch.resolution, arch.resolution).contiguous(memory_format=fmt)
        models = {"super": supernet, "autograd": AutogradSlicing(supernet), "stock": stock, "same": same}
        if label != "largest":
            models["sandwich"] = InSandwich(supernet, arch, x_big)
            models["twin_sandwich"] = TwinInSandwich(same, largest_twin, x_big)
        for model in models.values():  # warm-up: allocator, oneDNN primitive caches
            step_time(model, x, 3)
        t = {name: [] for name in models}
        fwd = {name: [] for name in models}
        faults = {name: 0 for name in models}
        for r in range(rounds):
            for name in rotation(list(models), r):
                f0 = minor_faults()
                total, forward = step_time(models[name], x, iters)
                faults[name] += minor_faults() - f0
                t[name].append(total)
                fwd[name].append(forward)
        bwd = {name: [a - b for a, b in zip(t[name], fwd[name])] for name in models}
        med = {name: 1e3 * statistics.median(v) for name, v in t.items()}
        profile = (
            op_profile(supernet, same, x, profile_iters) if profile_iters and label == "smallest" else []
        )
        rows.append(
            dict(
                label=label,
                arch=str(arch),
                super_ms=med["super"],
                stock_ms=med["stock"],
                same_ms=med["same"],
                ratio_stock=paired(t, "super", "stock"),
                ratio=paired(t, "super", "same"),
                ratio_fwd=paired(fwd, "super", "same"),
                ratio_bwd=paired(bwd, "super", "same"),
                autograd_ms=med["autograd"],
                ratio_autograd=paired(t, "autograd", "same"),
                sandwich_ms=med.get("sandwich"),
                twin_sandwich_ms=med.get("twin_sandwich"),
                ratio_sandwich=paired(t, "sandwich", "twin_sandwich"),
                ratio_sandwich_alone=paired(t, "sandwich", "same"),
                faults={name: f / (rounds * iters) for name, f in faults.items()},
                profile=profile,
            )
        )
        print(
            f"{label:10s} super {med['super']:7.1f} ms  stock {med['stock']:7.1f} ms  same ops "
            f"{med['same']:7.1f} ms  ratio vs stock {rows[-1]['ratio_stock']:.3f}  vs same ops "
            f"{rows[-1]['ratio']:.3f} (forward {rows[-1]['ratio_fwd']:.3f}, backward {rows[-1]['ratio_bwd']:.3f}; "
            f"autograd slicing {rows[-1]['ratio_autograd']:.3f}, in the sandwich "
            f"{_ratio(rows[-1]['ratio_sandwich'])} vs the twin in its sandwich)  page faults/step "
            f"{rows[-1]['faults']['super']:.0f} / "
            f"{rows[-1]['faults']['stock']:.0f} / {rows[-1]['faults']['same']:.0f}",
            flush=True,
        )
    return rows


def _ratio(value: float | None) -> str:
    return "as alone" if value is None else f"{value:.3f}"


def malloc_note() -> str:
    """The glibc allocator settings of this run, when the environment changes them."""
    tunables = os.environ.get("GLIBC_TUNABLES")
    return f" Allocator: `GLIBC_TUNABLES={tunables}`." if tunables else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="mbv2-small")
    parser.add_argument("--in-chans", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--channels-last", action="store_true", help="as `supernet train` does by default")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="STEPS",
        help="also profile STEPS steps of the smallest subnet and its twin: where the difference goes",
    )  # fmt: skip
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    cache_note = widen_primitive_cache()  # as `supernet train` sets it, before the first convolution
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    use_alias(True)  # the supernet as `supernet train` runs it: sliced weights as aliasing leaves
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    load = os.getloadavg()[0]
    rows = bench(
        SearchSpace.resolve(args.space), in_chans=args.in_chans, batch=args.batch, rounds=args.rounds,
        iters=args.iters, seed=args.seed, fmt=fmt, profile_iters=args.profile,
    )  # fmt: skip
    worst = max(r["ratio"] for r in rows)
    worst_stock = max(r["ratio_stock"] for r in rows)
    worst_autograd = max(r["ratio_autograd"] for r in rows)
    worst_sandwich = max(r["ratio_sandwich"] or r["ratio"] for r in rows)  # the largest: as alone
    worst_sandwich_alone = max(r["ratio_sandwich_alone"] or r["ratio"] for r in rows)
    summary = (
        f"Worst ratio against the same-ops twin (cost of weight sharing): {worst:.3f} (goal <= 1.05); "
        f"against the stock timm twin: {worst_stock:.3f}. With plain autograd slicing: {worst_autograd:.3f} "
        f"against the same-ops twin. The same sandwich on static twins (each subnet timed after the largest's "
        f"forward+backward, in the supernet and among the static twins; the largest as alone): "
        f"{worst_sandwich:.3f}; the supernet's subnet in its sandwich against the twin alone: "
        f"{worst_sandwich_alone:.3f}."
    )
    print(summary)
    if args.out:
        lines = [
            "# Supernet step vs static timm model (forward+backward, CPU)",
            "",
            f"Command: `python {' '.join(sys.argv)}`",
            "",
            f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {args.threads} threads, "
            f"batch {args.batch}, {args.in_chans} input channel(s), channels_last {args.channels_last}, median of "
            f"{args.rounds} interleaved rounds x {args.iters} steps. 1-min load average at the start: "
            f"{load:.2f}. {cache_note}.{malloc_note()} Forward / backward: the step's time up to the loss and "
            "after it (the supernet's ratio to the same-ops twin, median of per-round ratios). Page faults: "
            "minor page faults per step (supernet / stock / same ops), "
            "i.e. fresh memory the allocator got from the kernel during the steps. Before each timed step, "
            "untimed: gradients cleared as an optimizer does (a parameter list set to None), not by "
            "`Module.zero_grad`; in the sandwich columns, then the largest subnet's forward+backward, as "
            "`supernet train` runs the other subnets after it in every step: in the supernet (the subnet's "
            "gradients add onto the largest's), and for the static twin the static largest twin's (its own "
            "gradients start cleared).",
            "",
            "| subnet | supernet ms | static, stock ms | static, same ops ms | ratio vs stock | ratio vs same ops "
            "| of which forward / backward, ratio vs same ops "
            "| autograd slicing: ms, ratio vs same ops | in the sandwich: supernet ms, same-ops twin ms, "
            "ratio (vs the twin alone) | page faults per step | arch |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        lines += [
            f"| {r['label']} | {r['super_ms']:.1f} | {r['stock_ms']:.1f} | {r['same_ms']:.1f} | "
            f"{r['ratio_stock']:.3f} | {r['ratio']:.3f} | {r['ratio_fwd']:.3f} / {r['ratio_bwd']:.3f} | "
            f"{r['autograd_ms']:.1f}, {r['ratio_autograd']:.3f} | "
            + (
                f"{r['sandwich_ms']:.1f}, {r['twin_sandwich_ms']:.1f}, {r['ratio_sandwich']:.3f} "
                f"({r['ratio_sandwich_alone']:.3f}) | "
                if r["sandwich_ms"]
                else "as alone | "
            )
            + f"{r['faults']['super']:.0f} / {r['faults']['stock']:.0f}"
            f" / {r['faults']['same']:.0f} | `{r['arch']}` |"
            for r in rows
        ]
        lines += ["", summary]
        for r in rows:
            if r["profile"]:
                lines += [
                    "",
                    f"## Where the {r['label']} subnet's extra time goes (torch.profiler, {args.profile} steps "
                    "each, per step; the twin is the same-ops one)",
                    "",
                    *r["profile"],
                ]
        atomic_write_text(args.out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
