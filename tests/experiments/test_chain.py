"""experiments/full_chain.sh: the order of the stages, the two lanes side by side, and a failed stage's exit
status, with a stand-in driver that records what it was asked to do."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHAIN = Path(__file__).resolve().parents[2] / "experiments" / "full_chain.sh"

STUB = textwrap.dedent(
    """
    import os, sys, time
    args = sys.argv[1:]
    stages = args[args.index("--stages") + 1]
    extra = [a for a in args if a in ("0.35,1", "0.5,0.75", "large", "small,middle")]
    tag = "+".join([stages, *extra])
    with open(os.environ["LOG"], "a") as f:
        f.write(f"start {tag} {' '.join(args[:2])}\\n")
    time.sleep(0.3)
    with open(os.environ["LOG"], "a") as f:
        f.write(f"end {tag}\\n")
    sys.exit(1 if tag == os.environ.get("FAIL") else 0)
    """
)


def _chain(tmp_path: Path, fail: str = "") -> tuple[int, list[str]]:
    (tmp_path / "driver.py").write_text(STUB)
    log = tmp_path / "stages.log"
    env = {**os.environ, "PYTHON": sys.executable, "FULL_CHAIN_DRIVER": str(tmp_path / "driver.py"),
           "LOG": str(log), "FAIL": fail}  # fmt: skip
    proc = subprocess.run(["bash", str(CHAIN), "--out", str(tmp_path / "run"), "--epochs", "60"], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    return proc.returncode, log.read_text().splitlines() if log.is_file() else []


def test_stages_run_in_order_with_two_lanes_side_by_side(tmp_path):
    rc, lines = _chain(tmp_path)
    assert rc == 0
    assert all(line.endswith(f"--out {tmp_path / 'run'}") for line in lines if line.startswith("start"))
    events = [" ".join(line.split()[:2]) for line in lines]
    assert events[:2] == ["start supernet", "end supernet"]
    assert events[-2:] == ["start inherit,measure,report", "end inherit,measure,report"]
    first = events.index("start lut,pareto")
    # the second lane starts while the first lane's search runs, not after it
    assert events.index("start baselines+0.5,0.75") < events.index("end lut,pareto")
    assert events.index("start baselines+0.35,1") > events.index("end lut,pareto") > first
    scratch = events.index("start scratch+large")
    assert scratch > max(events.index("end baselines+0.35,1"), events.index("end baselines+0.5,0.75"))
    assert events.index("start scratch+small,middle") < events.index("end scratch+large")


@pytest.mark.parametrize("fail", ["baselines+0.5,0.75", "lut,pareto", "supernet"])
def test_a_failed_stage_stops_the_chain_with_its_status(tmp_path, fail):
    rc, lines = _chain(tmp_path, fail)
    events = [" ".join(line.split()[:2]) for line in lines]
    assert rc == 1 and "start inherit,measure,report" not in events
    assert "start scratch+large" not in events
    if fail == "lut,pareto":  # its lane stops; the other lane still finishes
        assert "start baselines+0.35,1" not in events and "end baselines+0.5,0.75" in events
    if fail == "supernet":
        assert events == ["start supernet", "end supernet"]


def test_usage_without_out(tmp_path):
    proc = subprocess.run(["bash", str(CHAIN), "--epochs", "60"], capture_output=True, text=True)
    assert proc.returncode == 2 and "usage:" in proc.stderr
