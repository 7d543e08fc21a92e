"""An independent timer: what a user measures with their own onnxruntime harness.

It shares no code with `latency.measure`: a fresh `InferenceSession` per graph with onnxruntime's default
options (only the thread count and provider set), its own input, warm-up and clock, and the statistic
computed by numpy. `supernet latency validate` reports the table's error against it, so the number a
user reproduces is the number reported.
"""

from __future__ import annotations

import time
from pathlib import Path

INDEPENDENT_WARMUP = 20


def independent_ms(
    path: str | Path,
    stat: str,
    threads: int = 1,
    batch: int = 1,
    repeats: int = 100,
    provider: str = "CPUExecutionProvider",
) -> float:
    """`stat` (min, median, p90, p99) in ms of `repeats` runs of the ONNX file after 20 warm-up runs."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=[provider])
    inp = session.get_inputs()[0]
    x = np.random.default_rng(12345).random((batch, *inp.shape[1:]), dtype=np.float32)
    feed = {inp.name: x}
    for _ in range(INDEPENDENT_WARMUP):
        session.run(None, feed)
    times = np.empty(repeats)
    for i in range(repeats):
        t0 = time.perf_counter()
        session.run(None, feed)
        times[i] = time.perf_counter() - t0
    value = (
        np.min(times)
        if stat == "min"
        else np.percentile(times, 50.0 if stat == "median" else float(stat[1:]))
    )
    return float(value) * 1e3
