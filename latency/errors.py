"""Errors of the latency package: each names the mismatch and what would be accepted."""

from __future__ import annotations

from supernet.errors import SupernetError


class LatencyTableError(SupernetError):
    """A missing, corrupt, incomplete or mismatched lookup table (other space, target or I/O shape)."""


class MissingEntryError(LatencyTableError):
    """A layer the table has no entry for: the table was built for another space or was cut short."""


class TargetError(SupernetError):
    """An unknown target, or one this machine cannot run (e.g. `torch-cuda` without a GPU)."""


class OptionError(SupernetError):
    """A command-line option or argument out of its allowed range."""
