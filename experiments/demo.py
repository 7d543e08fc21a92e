"""`make demo`: the whole path on the embedded digits data — train, measure this CPU, search, ship ONNX.

Each step is the user-facing command, printed before it runs; rerunning continues where it stopped.
The latency budget is set between this machine's smallest and largest subnet, so it is always feasible.
"""

from __future__ import annotations

import math
import shlex
import subprocess
import sys
from pathlib import Path

RUN = Path("runs/digits")
LUT = Path("runs/lut_ort-cpu_digits.json")
DEPLOY = Path("deploy/digits")
BIN = Path(sys.executable).parent


def run(*args: str) -> None:
    cmd = [str(BIN / "supernet"), *args]
    print(f"\n$ {shlex.join(['supernet', *args])}", flush=True)
    if subprocess.run(cmd).returncode != 0:
        sys.exit(f"demo: `supernet {args[0]}` failed")


def main() -> None:
    resume = ["--resume"] if (RUN / "checkpoint.json").is_file() else []  # rerunning continues the run
    run("train", "--dataset", "digits", "--out", str(RUN), *resume)
    run(
        "latency",
        "build",
        "--space",
        "mbv2-small",
        "--target",
        "ort-cpu",
        "--threads",
        "1",
        "--in-chans",
        "1",
        "--num-classes",
        "10",
        "--out",
        str(LUT),
        "--quiet",
    )
    from latency.table import LatencyTable
    from supernet import SearchSpace

    table, space = LatencyTable.load(LUT), SearchSpace.preset("mbv2-small")
    lo, hi = table.predict_ms(space.smallest()), table.predict_ms(space.largest())
    budget = round(math.sqrt(lo * hi), 3)
    print(f"\nthis CPU: smallest subnet {lo:.3f} ms, largest {hi:.3f} ms predicted; budget {budget} ms")
    if (DEPLOY / "search.json").is_file():  # complete; a killed extract resumes from its journal instead
        print(f"\n{DEPLOY} already holds a finished extract (rerun with `supernet extract ... --overwrite`)")
        return
    run(
        "extract",
        "--checkpoint",
        str(RUN),
        "--lut",
        str(LUT),
        "--budget-ms",
        str(budget),
        "--out",
        str(DEPLOY),
        "--int8",
        "--quiet",
    )
    print(
        f"\ndemo done: verified ONNX model at {DEPLOY / 'model.onnx'} (int8: {DEPLOY / 'model.int8.onnx'}), "
        f"model card {DEPLOY / 'card.json'}"
    )


if __name__ == "__main__":
    main()
