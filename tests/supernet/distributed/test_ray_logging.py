"""Known-benign Ray warnings lose their traceback (`supernet/distributed/_ray_logging.py`)."""

from __future__ import annotations

import importlib.util
import logging

from supernet.distributed._ray_logging import BENIGN_TRACEBACK_LOGGERS, OneLine, setup


def test_each_logger_still_names_a_module_of_the_installed_ray():
    for name in BENIGN_TRACEBACK_LOGGERS:
        assert importlib.util.find_spec(name) is not None, f"Ray moved {name}: update _ray_logging.py"


def test_a_warning_with_a_traceback_becomes_one_line(caplog):
    setup()
    setup()  # idempotent: one filter, however often a process runs the hook
    logger = logging.getLogger(BENIGN_TRACEBACK_LOGGERS[0])
    assert sum(isinstance(f, OneLine) for f in logger.filters) == 1
    try:
        raise TimeoutError("Get timed out: some object(s) not ready.")
    except TimeoutError:
        with caplog.at_level(logging.WARNING, logger=logger.name):
            logger.warning("Failed to send resource request for %s.", "train-1", exc_info=True)
    (record,) = caplog.records
    assert record.exc_info is None and record.exc_text is None
    text = logging.Formatter().format(record)
    assert (
        text
        == "Failed to send resource request for train-1. (TimeoutError: Get timed out: some object(s) not ready.)"
    )
    logging.getLogger("ray.train").warning("other loggers keep theirs")  # untouched: no filter there
    assert not any(isinstance(f, OneLine) for f in logging.getLogger("ray.train").filters)
