"""Arch edits used by the searches: one-step gene moves (fine stage) and the uniform coarse grid."""

from __future__ import annotations

import itertools
import random

from supernet import ArchConfig, SearchSpace

KNOBS = ("resolution", "width", "depth", "kernel", "expand")


def _step(value, choices: tuple, step: int):
    """The choice `step` places from `value` in `choices`, or None at the end of the list."""
    i = choices.index(value) + step
    return choices[i] if 0 <= i < len(choices) else None


def _genes(space: SearchSpace, arch: ArchConfig) -> list[tuple]:
    genes: list[tuple] = [("resolution",)]
    for i in range(len(space.stages)):
        genes += [("width", i), ("depth", i)]
        genes += [(name, i, j) for j in range(arch.depths[i]) for name in ("kernel", "expand")]
    return genes


def step_gene(space: SearchSpace, arch: ArchConfig, gene: tuple, step: int) -> ArchConfig | None:
    """Move one gene (resolution, a stage's width or depth, a block's kernel or expand) by `step` choices.

    A deeper stage repeats its last block's kernel and expand; a shallower one drops its last block.
    Returns None when the gene is already at the end of its choices.
    """
    res, widths, depths = arch.resolution, list(arch.width_mults), list(arch.depths)
    kernels, exps = [list(k) for k in arch.kernel_sizes], [list(e) for e in arch.exp_ratios]
    name, *where = gene
    if name == "resolution":
        res = _step(res, space.resolutions, step)
        if res is None:
            return None
    else:
        i, st = where[0], space.stages[where[0]]
        if name == "width":
            widths[i] = _step(widths[i], st.width_mults, step)
            if widths[i] is None:
                return None
        elif name == "depth":
            d = _step(depths[i], st.depths, step)
            if d is None:
                return None
            kernels[i] = (kernels[i] + [kernels[i][-1]] * d)[:d]
            exps[i] = (exps[i] + [exps[i][-1]] * d)[:d]
            depths[i] = d
        else:
            values, choices = (kernels, st.kernel_sizes) if name == "kernel" else (exps, st.exp_ratios)
            v = _step(values[i][where[1]], choices, step)
            if v is None:
                return None
            values[i][where[1]] = v
    return ArchConfig(
        res,
        width_mults=tuple(widths),
        depths=tuple(depths),
        kernel_sizes=tuple(map(tuple, kernels)),
        exp_ratios=tuple(map(tuple, exps)),
    )


def random_step(space: SearchSpace, arch: ArchConfig, rng: random.Random, step: int) -> ArchConfig | None:
    """`step_gene` on a uniformly drawn gene (blocks are genes too, so per-block edits dominate)."""
    return step_gene(space, arch, rng.choice(_genes(space, arch)), step)


def trade(space: SearchSpace, arch: ArchConfig, rng: random.Random) -> ArchConfig | None:
    """Grow one gene and shrink another: moves along the latency budget instead of away from it."""
    up = rng.choice(_genes(space, arch))
    grown = step_gene(space, arch, up, +1)
    if grown is None:
        return None
    return step_gene(space, grown, rng.choice([g for g in _genes(space, grown) if g != up]), -1)


def _level(choices: tuple, level: int, num_levels: int):
    """The choice at relative position level/(num_levels-1), so stages with fewer choices still span them."""
    if num_levels == 1:
        return choices[-1]
    return choices[round(level * (len(choices) - 1) / (num_levels - 1))]


def num_levels(space: SearchSpace) -> dict[str, int]:
    stages = space.stages
    return {
        "resolution": len(space.resolutions),
        "width": max(len(s.width_mults) for s in stages),
        "depth": max(len(s.depths) for s in stages),
        "kernel": max(len(s.kernel_sizes) for s in stages),
        "expand": max(len(s.exp_ratios) for s in stages),
    }


def uniform_arch(space: SearchSpace, levels: tuple[int, ...]) -> ArchConfig:
    """The arch with every stage at the same relative level of each knob (resolution, width, depth, kernel, expand)."""
    n = num_levels(space)
    r, w, d, k, e = levels
    depths = tuple(_level(s.depths, d, n["depth"]) for s in space.stages)
    return ArchConfig(
        resolution=_level(space.resolutions, r, n["resolution"]),
        width_mults=tuple(_level(s.width_mults, w, n["width"]) for s in space.stages),
        depths=depths,
        kernel_sizes=tuple(
            (_level(s.kernel_sizes, k, n["kernel"]),) * dd for s, dd in zip(space.stages, depths)
        ),
        exp_ratios=tuple((_level(s.exp_ratios, e, n["expand"]),) * dd for s, dd in zip(space.stages, depths)),
    )


def coarse_grid(space: SearchSpace) -> dict[tuple[int, ...], ArchConfig]:
    """All uniform archs, keyed by their knob levels (BigNAS's coarse grid)."""
    n = num_levels(space)
    return {lv: uniform_arch(space, lv) for lv in itertools.product(*(range(n[k]) for k in KNOBS))}


def maximal_levels(levels: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """The level tuples no other tuple in `levels` dominates (>= in every knob): growing any knob of a
    maximal point leaves the feasible set, so these are the coarse points worth scoring."""
    feasible = set(levels)
    return [
        lv
        for lv in levels
        if not any(tuple(x + (i == j) for j, x in enumerate(lv)) in feasible for i in range(len(lv)))
    ]
