"""One frozen, validated `Timing` carries warm-up, repeats, statistic and threads from the command line to
the timers: bad values are refused where it is made, and build, validate and kit pass it through unchanged."""

from __future__ import annotations

import dataclasses
import json

import pytest

import latency.build as build
import latency.validate as validate
from latency.errors import OptionError, TargetError
from latency.timing import DEFAULT_TIMING, STATS, Timing

from .conftest import exit_code, tiny_space


def test_defaults_and_frozen():
    assert DEFAULT_TIMING == Timing(warmup=10, repeats=50, stat="median", threads=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_TIMING.repeats = 3
    assert Timing(repeats=7, stat="p90", threads=2).subnet() == Timing(repeats=14, stat="p90", threads=2)
    assert Timing(warmup=0).warmup == 0  # no warm-up is allowed


@pytest.mark.parametrize(
    "kwargs, words",
    [({"warmup": -1}, "--warmup must be an integer >= 0, got -1"), ({"repeats": 0}, "--repeats must be an integer >= 1"),
     ({"threads": 0}, "--threads must be an integer >= 1"), ({"repeats": 2.5}, "--repeats must be an integer"),
     ({"threads": True}, "--threads must be an integer"), ({"warmup": float("inf")}, "--warmup must be an integer")],
)  # fmt: skip
def test_bad_counts_are_refused_with_the_option_named(kwargs, words):
    with pytest.raises(OptionError, match=words):
        Timing(**kwargs)


def test_an_unknown_statistic_is_refused_with_the_allowed_ones():
    with pytest.raises(TargetError, match=f"'mean' is unknown; allowed: {', '.join(STATS)}"):
        Timing(stat="mean")


def test_build_times_layers_with_the_timing_and_subnets_with_twice_the_repeats(tmp_path, monkeypatch):
    seen = {"layer": set(), "subnet": set()}

    def layer(module, example, target, timing, **where):
        seen["layer"].add((timing, where.get("provider")))
        return 0.01

    def subnet(space, arch, target, *, timing, **rest):
        seen["subnet"].add(timing)
        return 0.1 + 0.01 * sum(arch.depths)

    monkeypatch.setattr(build, "measure_module_ms", layer)
    monkeypatch.setattr(build, "measure_arch_ms", subnet)
    timing = Timing(warmup=3, repeats=4, stat="p90", threads=2)
    table = build.build_table(
        tiny_space(), "ort-cpu", tmp_path / "t.json", timing=timing, fit_samples=4, progress=False
    )
    assert seen == {"layer": {(timing, "CPUExecutionProvider")}, "subnet": {Timing(3, 8, "p90", 2)}}
    saved = json.loads((tmp_path / "t.json").read_text())
    assert (table.stat, table.threads) == ("p90", 2) and (saved["stat"], saved["threads"]) == ("p90", 2)
    assert (saved["metadata"]["warmup"], saved["metadata"]["repeats"]) == (3, 4)  # the table format as before


def test_validate_times_with_the_tables_statistic_and_threads(fake_table, monkeypatch):
    seen = set()

    def subnet(space, arch, target, *, timing, **rest):
        seen.add(timing)
        return 1.0

    monkeypatch.setattr(validate, "measure_arch_ms", subnet)
    fake_table.target, fake_table.stat, fake_table.threads = "torch-cpu", "min", 3
    validate.validate_table(fake_table, samples=2, warmup=4, repeats=9, passes=1, progress=False)
    assert seen == {Timing(warmup=4, repeats=9, stat="min", threads=3)}


def test_a_kit_records_the_timing_as_the_runners_defaults(tmp_path):
    from latency.kit import make_kit

    with pytest.raises(OptionError, match="chosen on the device"):
        make_kit(tiny_space(), tmp_path / "k", timing=Timing(threads=2), progress=False)
    assert not (tmp_path / "k").exists()


@pytest.mark.parametrize(
    "argv, words",
    [(["build", "--space", "mbv2-small", "--target", "ort-cpu", "--warmup", "-1"], "--warmup: must be an integer in [0, 1000000], got -1"),
     (["build", "--space", "mbv2-small", "--target", "ort-cpu", "--stat", "min", "--repeats", "0"], "--repeats"),
     (["kit", "--space", "mbv2-small", "--repeats", "0"], "--repeats: must be an integer in [1, 1000000], got 0"),
     (["kit", "--space", "mbv2-small", "--warmup", "-2"], "--warmup: must be an integer in [0, 1000000]"),
     (["validate", "--lut", "{lut}", "--warmup", "-1"], "--warmup: must be an integer in [0, 1000000]"),
     (["validate", "--lut", "{lut}", "--repeats", "0"], "--repeats: must be an integer in [1, 1000000]"),
     # huge values once ran for hours (--holdout, --fit-samples) or overflowed into a traceback (--in-chans)
     (["kit", "--space", "mbv2-small", "--holdout", "99999999999999999999"], "--holdout: must be an integer in [1, 100000]"),
     (["kit", "--space", "mbv2-small", "--in-chans", "99999999999999999999"], "--in-chans: must be an integer in [1, 4096]"),
     (["build", "--space", "mbv2-small", "--target", "macs", "--fit-samples", "1e9"], "--fit-samples: must be an integer in [4, 100000]"),
     (["build", "--space", "mbv2-small", "--target", "ort-cpu", "--threads", "5000"], "--threads: must be an integer in [1, 1024]"),
     (["validate", "--lut", "{lut}", "--samples", "99999999999999999999"], "--samples: must be an integer in [1, 100000]"),
     (["validate", "--lut", "{lut}", "--seed", "-1"], "--seed: must be an integer in [0, 4294967295]")],
)  # fmt: skip
def test_the_cli_builds_one_timing_and_refuses_bad_knobs_in_one_line(
    fake_table, tmp_path, capsys, argv, words
):
    lut = tmp_path / "lut.json"
    fake_table.save(lut)
    argv = [a.replace("{lut}", str(lut)) for a in argv]
    out = [] if argv[0] == "validate" else ["--out", str(tmp_path / "out")]
    assert exit_code(["latency", *argv, *out]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["lut.json"]
