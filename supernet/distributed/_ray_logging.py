"""Runs in every Ray worker process of a `supernet` job (Ray's `worker_process_setup_hook`), the Ray Train
controller included: known-benign Ray warnings lose their traceback and become one line.

On a busy machine Ray Train's controller logs "Failed to send resource request ... it's safe to ignore
this error" with the full `GetTimeoutError` traceback every time its 5 s request to the autoscaling
coordinator times out (a 2-core machine training at full load did, twice in one run). The warning stays,
as one line that ends with the exception's summary; its traceback carries nothing a user can act on.
The filter sits on the logger that emits it (a logger's own filters apply to its records only), so no
other Ray record changes. This module imports only `logging`: it runs in processes that need no torch.
"""

from __future__ import annotations

import logging

# Ray-internal logger names (not public API; `tests/supernet/distributed/test_ray_logging.py` checks
# that each still names a module of the installed Ray).
BENIGN_TRACEBACK_LOGGERS = ("ray.train.v2._internal.execution.scaling_policy.autoscaling_coordinator_client",)
HOOK = f"{__name__}.setup"  # what `cluster.connect` passes as `worker_process_setup_hook`


class OneLine(logging.Filter):
    """A record with a traceback becomes its message plus `(ExceptionType: message)`, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            record.msg, record.args = f"{record.getMessage()} ({type(error).__name__}: {error})", None
            record.exc_info, record.exc_text = None, None
        return True


def setup() -> None:
    for name in BENIGN_TRACEBACK_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, OneLine) for f in logger.filters):
            logger.addFilter(OneLine())
