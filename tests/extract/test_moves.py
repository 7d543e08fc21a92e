"""Gene moves and the coarse grid stay inside the space and do what their names say."""

import random

from extract.moves import coarse_grid, maximal_levels, num_levels, random_step, step_gene, trade, uniform_arch


def test_step_gene_moves_one_choice_and_stops_at_the_ends(space):
    smallest, largest = space.smallest(), space.largest()
    up = step_gene(space, smallest, ("resolution",), +1)
    assert up.resolution == space.resolutions[1] and up.depths == smallest.depths
    assert step_gene(space, smallest, ("resolution",), -1) is None
    assert step_gene(space, largest, ("width", 2), +1) is None
    deeper = step_gene(space, smallest, ("depth", 1), +1)
    assert deeper.depths[1] == smallest.depths[1] + 1
    assert deeper.kernel_sizes[1] == smallest.kernel_sizes[1] + smallest.kernel_sizes[1][-1:]
    bigger_kernel = step_gene(space, smallest, ("kernel", 2, 1), +1)
    assert bigger_kernel.kernel_sizes[2] == (3, 5)


def test_random_moves_yield_valid_archs(space):
    rng = random.Random(0)
    for _ in range(200):
        arch = space.sample(rng)
        for child in (
            random_step(space, arch, rng, +1),
            random_step(space, arch, rng, -1),
            trade(space, arch, rng),
        ):
            if child is not None:
                child.validate(space)
                assert child != arch


def test_coarse_grid_is_uniform_and_spans_the_space(space):
    grid = coarse_grid(space)
    n = num_levels(space)
    assert len(grid) == n["resolution"] * n["width"] * n["depth"] * n["kernel"] * n["expand"]
    assert grid[(0,) * 5] == space.smallest()
    assert grid[tuple(v - 1 for v in n.values())] == space.largest()
    for arch in grid.values():
        arch.validate(space)
        assert len({k for ks in arch.kernel_sizes for k in ks}) == 1
    assert uniform_arch(space, (1, 1, 1, 1, 1)).width_mults == (1.0,) * 5


def test_maximal_levels_keeps_only_undominated_points():
    levels = [(0, 0), (1, 0), (0, 1), (1, 1), (2, 0)]
    assert sorted(maximal_levels(levels)) == [(1, 1), (2, 0)]
