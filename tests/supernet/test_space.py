import json
import random
from pathlib import Path

import pytest

from supernet import ArchConfig, ArchError, SearchSpace, SpaceError


@pytest.fixture(params=["mbv2-small", "mbv2-imagenet"])
def space(request):
    return SearchSpace.preset(request.param)


def test_presets_shapes():
    imagenet = SearchSpace.preset("mbv2-imagenet")
    assert [s.base_chs for s in imagenet.stages] == [24, 32, 64, 96, 160, 320]
    assert [s.stride for s in imagenet.stages] == [2, 2, 2, 1, 2, 1]
    assert imagenet.resolutions == (160, 176, 192, 208, 224)
    assert imagenet.stages[-1].depths == (1,) and imagenet.head_chs == 1280
    small = SearchSpace.preset("mbv2-small")
    # stem stride 2 and two strided stages: total stride 8, 32 px ends at 4x4
    assert 2 * 2 ** sum(s.stride == 2 for s in small.stages) == 8
    assert max(small.resolutions) == 32


def test_widths_use_make_divisible_and_are_distinct(space):
    for i, st in enumerate(space.stages):
        chs = [space.stage_chs(i, w) for w in st.width_mults]
        assert len(set(chs)) == len(chs)
        assert all(c % space.channel_divisor == 0 for c in chs)


def test_smallest_largest_and_sample_are_valid(space):
    rng = random.Random(0)
    for arch in [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(50)]:
        assert arch.validate(space) is arch
    assert space.smallest().resolution == min(space.resolutions)
    assert space.largest().depths == tuple(max(s.depths) for s in space.stages)


def test_sample_is_seeded(space):
    a = [space.sample(random.Random(7)) for _ in range(3)]
    b = [space.sample(random.Random(7)) for _ in range(3)]
    assert a == b
    assert len({space.sample(random.Random(s)) for s in range(20)}) > 15


def test_mutate_and_crossover_stay_in_space(space):
    rng = random.Random(1)
    parents = [space.sample(rng) for _ in range(20)]
    for a, b in zip(parents, parents[1:]):
        child = space.crossover(a, b, rng).validate(space)
        mutant = space.mutate(child, 0.5, rng).validate(space)
        assert isinstance(mutant, ArchConfig)
    assert space.mutate(parents[0], 0.0, rng) == parents[0]
    assert space.mutate(parents[0], 1.0, random.Random(3)) != parents[0]


def test_num_archs_counts_per_block_choices():
    space = SearchSpace.preset("mbv2-small")
    expected = len(space.resolutions)
    for st in space.stages:
        expected *= len(st.width_mults) * sum(9**d for d in st.depths)
    assert space.num_archs() == expected


def test_yaml_and_json_round_trip(space, tmp_path):
    for suffix in (".yaml", ".json"):
        path = tmp_path / f"space{suffix}"
        space.save(path)
        loaded = SearchSpace.load(path)
        assert loaded == space and loaded.fingerprint() == space.fingerprint()
    assert SearchSpace.resolve(str(tmp_path / "space.json")) == space


def test_fingerprint_tracks_content_not_name(space):
    renamed = SearchSpace.from_dict({**space.to_dict(), "name": "other"})
    assert renamed.fingerprint() == space.fingerprint()
    changed = SearchSpace.from_dict({**space.to_dict(), "head_chs": space.head_chs + 8})
    assert changed.fingerprint() != space.fingerprint()


def test_unknown_preset_lists_available():
    with pytest.raises(
        SpaceError, match="unknown search-space preset 'nope'; available: mbv2-imagenet, mbv2-small"
    ):
        SearchSpace.preset("nope")


@pytest.mark.parametrize(
    "text, message",
    [
        ("name: x\nresolutions: [32\n", "not valid YAML"),
        ("- 1\n- 2\n", "must be a mapping"),
        ("name: x\nresolutions: [32]\n", "missing"),
        (
            "name: x\nresolutions: [32]\nstem_chs: 8\nfirst_chs: 8\nhead_chs: 32\nstages: [{base_chs: 8, stride: 3, depths: [1]}]\n",
            "stride 3 is not allowed; allowed: 1, 2",
        ),
        (
            "name: x\nresolutions: [32]\nstem_chs: 8\nfirst_chs: 8\nhead_chs: 32\nstages: [{base_chs: 8, stride: 1, depths: [1], colour: 1}]\n",
            "space stage 0 fields wrong: missing none, unknown ['colour']",
        ),
        (
            "name: x\nresolutions: [32]\nstem_chs: 8\nfirst_chs: 8\nhead_chs: 32\nstages: [{stride: 1, depths: [1]}]\n",
            "space stage 0 fields wrong: missing ['base_chs'], unknown none",
        ),
        (
            "name: x\nresolutions: [32]\nstem_chs: 8\nfirst_chs: 8\nhead_chs: 32\nstages: [{base_chs: 8, stride: 1, depths: [1]}, 5]\n",
            "space stage 1 must be a mapping of fields",
        ),  # was a traceback
        (
            "name: x\nresolutions: [32]\nstem_chs: 8\nfirst_chs: 8\nhead_chs: 32\nstages: 5\n",
            "space field stages must be a list of stages, got 5",
        ),  # was a traceback
        (
            "name: x\nresolutions: [32]\nstem_chs: 8\nfirst_chs: 8\nhead_chs: 32\n"
            "stages: [{base_chs: 24, stride: 1, depths: [1], width_mults: [0.75, 1.0]}]\n",
            "duplicate channel counts",
        ),
    ],
)
def test_malformed_space_files_give_one_line_errors(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpaceError) as info:
        SearchSpace.load(path)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(info.value).startswith(f"search space file {path}: ") or "YAML" in str(info.value)


TINY_TEXT = (Path(__file__).parents[1] / "spaces" / "tiny.yaml").read_text()


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("width_mults: [0.5, 1.0]", "width_mults: [.nan, 1.0]", "stage 0 width_mults must be in (0, 8] and finite, got nan"),
        ("width_mults: [0.5, 1.0]", "width_mults: [0.5, 1.0e+300]", "stage 0 width_mults must be in (0, 8] and finite, got 1e+300"),
        ("exp_ratios: [2, 3]", "exp_ratios: [0, 3]", "stage 0 exp_ratios must be in (0, 16] and finite, got 0"),
        ("kernel_sizes: [3, 5]", "kernel_sizes: [3, 99]", "stage 0 kernel_sizes must be an integer in [1, 15], got 99"),
        ("kernel_sizes: [3, 5]", "kernel_sizes: [3, 4]", "stage 0 kernel_sizes [3, 4] must be odd"),
        ("depths: [1, 2]", "depths: [1, 2.7]", "stage 0 depths must be an integer in [1, 32], got 2.7"),
        ("depths: [1, 2]", "depths: 2", "stage 0 depths must be a list of numbers, got 2"),
        ("depths: [1, 2]", "depths: []", "stage 0 depths must list at least one choice"),
        ("stride: 2", "stride: 2.5", "stage 0 stride 2.5 is not allowed; allowed: 1, 2"),
        ("base_chs: 8", "base_chs: -8", "stage 0 base_chs must be an integer in [1, 4096], got -8"),
        ("resolutions: [12, 16]", "resolutions: [12, 100000]", "space field resolutions must be an integer in [8, 1024], got 100000"),
        ("channel_divisor: 4", "channel_divisor: 0", "space field channel_divisor must be an integer in [1, 1024], got 0"),
        ("stem_chs: 8", "stem_chs: true", "space field stem_chs must be an integer in [1, 4096], got True"),
        ("name: tiny", "name: [1, 2]", "space field name must be a non-empty string, got [1, 2]"),
    ],
)  # fmt: skip
def test_space_fields_out_of_range_or_of_the_wrong_kind_are_one_line(tmp_path, old, new, message):
    """Each was once accepted (and failed later, deep in model building, or never) or a traceback."""
    path = tmp_path / "bad.yaml"
    assert old in TINY_TEXT
    path.write_text(TINY_TEXT.replace(old, new, 1))
    with pytest.raises(SpaceError) as info:
        SearchSpace.load(path)
    assert message in str(info.value) and "\n" not in str(info.value)
    ok = tmp_path / "ok.yaml"
    ok.write_text(TINY_TEXT.replace("depths: [1, 2]", "depths: [1.0, 2]", 1))  # an integral float is that int
    assert SearchSpace.load(ok).stages[0].depths == (1, 2) and isinstance(
        SearchSpace.load(ok).stages[0].depths[1], int
    )


def test_missing_space_file():
    with pytest.raises(SpaceError, match="not found"):
        SearchSpace.resolve("/nonexistent/space.yaml")


def test_arch_json_and_string_round_trip(space, tmp_path):
    arch = space.sample(random.Random(5))
    assert ArchConfig.from_json(arch.to_json()) == arch
    assert ArchConfig.from_string(str(arch)) == arch
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(arch.to_dict()))
    assert ArchConfig.load(path) == arch
    assert ArchConfig.load(str(arch)) == arch


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(resolution=40), "resolution=40 is not in the search space; allowed: 24, 28, 32"),
        (dict(width_mults=(0.5, 1, 1, 1, 1)), r"width_mults\[0\]=0.5 .* allowed: 0.75, 1, 1.25"),
        (dict(depths=(1, 5, 2, 2, 1)), r"depths\[1\]=5 .* allowed: 2, 3, 4"),
        (dict(depths=(1, 2, 2, 2)), "depths has 4 stages; the space has 5"),
        (
            dict(kernel_sizes=((9,), (3, 3), (3, 3), (3, 3), (3,))),
            r"kernel_sizes\[0\]\[0\]=9 .* allowed: 3, 5, 7",
        ),
        (dict(exp_ratios=((3,), (3, 3, 3), (3, 3), (3, 3), (3,))), r"exp_ratios\[1\] has 3 entries"),
    ],
)
def test_arch_outside_space_names_field_value_and_allowed(change, message):
    space = SearchSpace.preset("mbv2-small")
    arch = ArchConfig(**{**space.smallest().to_dict(), **change})
    with pytest.raises(ArchError, match=message):
        arch.validate(space)


def test_malformed_arch_json():
    with pytest.raises(ArchError, match="not valid JSON"):
        ArchConfig.from_json("{")
    with pytest.raises(ArchError, match="missing"):
        ArchConfig.from_json('{"resolution": 32}')
    with pytest.raises(ArchError, match="not of the form"):
        ArchConfig.from_string("r32_bogus")


@pytest.mark.parametrize(
    "text", ["r32_w1d2k3.3e6.\u0664", "r\u0663\u0662_w1d2k3.3e6.4", "r32_w\uff11d2k3.3e6.4"]
)
def test_arch_strings_take_ascii_digits_only(text):
    """int() reads digits of any script (Arabic-Indic, full-width); a canonical arch string has none."""
    assert ArchConfig.from_string("r32_w1d2k3.3e6.4").resolution == 32
    with pytest.raises(ArchError, match="arch string"):
        ArchConfig.from_string(text)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "r24_wd1k3e3_w1d2k3.3e3.3",
            "arch string stage 'wd1k3e3' is not of the form w<mult>d<depth>k<k.k>e<e.e>",
        ),
        ("r24_w1d1k3e3_", "arch string stage '' is not of the form"),
        ("r24", "arch string 'r24' has no stages"),
        ("r1e400_w1d1k3e3", "arch string must start with r<resolution>, got 'r1e400'"),
        ("runs/r24", "arch file not found: runs/r24"),
        ("r24.json", "arch file not found: r24.json"),
    ],
)
def test_an_arch_string_with_a_typo_is_named_as_a_string_not_a_missing_file(
    text, message, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ArchError) as info:
        ArchConfig.load(text)
    assert message in str(info.value)
