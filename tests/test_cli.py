"""The `supernet` entry point: every group is assembled, and bad input is one line with exit code 2."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from supernet_cli import main


def test_help_lists_every_group(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for group in ("train", "tune", "space", "latency", "extract", "export"):
        assert group in out


def test_space_show_and_validate(capsys):
    assert main(["space", "mbv2-small"]) == 0
    assert "mbv2-small" in capsys.readouterr().out
    smallest = "r24_w0.75d1k3e3_w0.75d2k3.3e3.3_w0.75d2k3.3e3.3_w0.75d2k3.3e3.3_w0.75d1k3e3"
    assert main(["space", "mbv2-small", "--validate", smallest]) == 0
    assert "ok" in capsys.readouterr().out
    assert main(["space", "mbv2-small", "--validate", smallest, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"space": "mbv2-small", "arch": smallest, "in_space": True}
    assert main(["space", "mbv2-small", "--validate", "smallest"]) == 0  # the space's own extremes by name
    assert smallest in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["space", "nope"], "unknown search space 'nope'"),
        (["space", "mbv2-small", "--validate", "r40_w1d1k3e3"], "resolution=40 is not in the search space"),
        (["space", "/no/such.yaml"], "search space file not found"),
        (
            ["space", "mbv2-small", "--validate", "r24", "--arch", "r24"],
            "--arch: not allowed with argument --validate",
        ),
        (
            ["train", "--bogus", "1"],
            "supernet train: error: unrecognized arguments: --bogus 1 (see supernet train --help)",
        ),
        (
            ["latency", "build", "--target", "macs", "--out", "x.json", "--bogus"],
            "(see supernet latency build --help)",
        ),
        (["--bogus"], "supernet: error: unrecognized arguments: --bogus (see supernet --help)"),
        (
            ["latency", "kit", "--space", "mbv2-small", "--out", "kit", "--in-chans", "0"],
            "supernet latency kit: error: argument --in-chans: must be an integer in [1, 4096], got 0",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, message):
    proc = subprocess.run([sys.executable, "-m", "supernet_cli", *argv], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in proc.stderr


def _parsers(parser, path=()):
    """Every (command path, parser) under the `supernet` parser."""
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_version_and_bare_command_prints_help():
    run = [sys.executable, "-m", "supernet_cli"]
    proc = subprocess.run([*run, "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("supernet ")
    proc = subprocess.run(run, capture_output=True, text=True)
    assert proc.returncode == 0 and "usage: supernet" in proc.stdout and "train" in proc.stdout
    assert proc.stderr == ""


def test_every_option_shows_its_default_and_quiet_is_one_switch():
    import argparse

    from supernet_cli import build_parser

    leaves = 0
    for path, parser in _parsers(build_parser()):
        if any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
            continue
        leaves += 1
        formatter = parser._get_formatter()
        for action in parser._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS:
                continue
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                continue
            text = formatter._expand_help(action)
            assert "default" in text.lower() or "(required)" in text, (path, action.option_strings, text)
        flags = {f for a in parser._actions for f in a.option_strings}
        progress = {"train", "extract", "build", "validate"}
        if path[-1] in progress:
            assert {"-q", "--quiet"} <= flags, path
        assert "--progress" not in flags and "--no-progress" not in flags
    assert leaves >= 8


def test_options_follow_timm_and_ray_names():
    from supernet_cli import build_parser

    args = build_parser().parse_args(["train", "-j", "3", "--num-workers", "2", "-q"])
    assert args.train_loader_workers == 3 and args.ray_workers == 2 and args.quiet


def test_deprecated_workers_alias_warns(capsys):
    from supernet_cli import build_parser

    args = build_parser().parse_args(["train", "--workers", "2"])
    assert args.ray_workers == 2
    assert "--workers is deprecated; use --num-workers" in capsys.readouterr().err


def test_space_names_mobilenetv2_100(capsys):
    assert main(["space", "mbv2-imagenet", "--arch", "mobilenetv2_100"]) == 0
    assert capsys.readouterr().out.strip() == (
        "r224_w1d2k3.3e6.6_w1d3k3.3.3e6.6.6_w1d4k3.3.3.3e6.6.6.6_w1d3k3.3.3e6.6.6_w1d3k3.3.3e6.6.6_w1d1k3e6"
    )
    assert main(["space", "mbv2-imagenet"]) == 0
    assert "named member mobilenetv2_100" in capsys.readouterr().out
    assert main(["space", "mbv2-small", "--arch", "mobilenetv2_100"]) == 2
    assert "member of the mbv2-imagenet preset, not of space mbv2-small" in capsys.readouterr().err


def test_closed_pipe_is_no_traceback(tmp_path):
    """`supernet ... | head -1`: the reader leaves early; the writer (far more than a pipe buffer) ends quietly."""
    script = (
        "import sys; from supernet.cli_common import run_command\n"
        "def func(args):\n"
        "    for i in range(200000): print('row', i)\n"
        "sys.exit(run_command(func, None, 'supernet latency show'))\n"
    )
    (tmp_path / "writer.py").write_text(script)
    cmd = f"{sys.executable} {tmp_path / 'writer.py'} | head -1"
    proc = subprocess.run(["bash", "-c", f"set -o pipefail; {cmd}"], capture_output=True, text=True)
    assert proc.stdout == "row 0\n"
    assert proc.returncode == 141  # 128 + SIGPIPE, as for any writer whose reader left
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    cmd = f"{sys.executable} -m supernet_cli space mbv2-imagenet --json | head -1"
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True)
    assert proc.stdout.strip() == "{" and "Traceback" not in proc.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_full_stdout_is_one_line():
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "supernet_cli", "space", "mbv2-small", "--json"],
            stdout=full, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1],
        )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip() == "supernet space: error: the disk is full"
