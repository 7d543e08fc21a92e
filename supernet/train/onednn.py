"""oneDNN's primitive cache, sized for a supernet whose convolution shapes change every step.

PyTorch runs CPU convolutions through oneDNN, which builds (JIT-compiles) a primitive per shape and keeps
the last `ONEDNN_PRIMITIVE_CACHE_CAPACITY` of them (1024 by default). A sandwich step trains two random
subnets: new kernel sizes, widths and resolutions per layer, forward and both backward passes, so the
default cache keeps evicting primitives that later steps need again, and rebuilding them is a per-step
cost that does not shrink with the batch. `supernet train` widens the cache to `CAPACITY` entries unless
the user set the variable (measured side by side in experiments/results/train_throughput.md).

oneDNN reads the variable once, when the process builds its first primitive: set it before any
convolution runs. Processes started from this one (local ranks) inherit it; Ray workers set it themselves.
"""

from __future__ import annotations

import os

from ..errors import SupernetError

ENV = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
ONEDNN_DEFAULT = 1024
CAPACITY = 65536


def widen_primitive_cache() -> str:
    """Set `ENV` to `CAPACITY` unless the user set it; returns the log note. A malformed value is refused."""
    own = os.environ.get(ENV)
    if own is None:
        os.environ[ENV] = str(CAPACITY)
        return f"oneDNN primitive cache: {CAPACITY} entries (default {ONEDNN_DEFAULT}; set {ENV} to override)"
    if not own.strip().isdigit():
        raise SupernetError(f"{ENV}={own!r}: expected a whole number of cache entries >= 0 (0 turns it off)")
    return f"oneDNN primitive cache: {int(own)} entries ({ENV} as set)"
