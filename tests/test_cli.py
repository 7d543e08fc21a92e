"""The `supernet` entry point: every group is assembled, and bad input is one line with exit code 2."""

import subprocess
import sys

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


@pytest.mark.parametrize(
    "argv, message",
    [
        (["space", "nope"], "unknown search space 'nope'"),
        (["space", "mbv2-small", "--validate", "r40_w1d1k3e3"], "resolution=40 is not in the search space"),
        (["space", "/no/such.yaml"], "search space file not found"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, message):
    proc = subprocess.run([sys.executable, "-m", "supernet_cli", *argv], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in proc.stderr
