"""Errors of search and export: one-line messages, printed by the CLI with exit code 2."""

from supernet.errors import SupernetError


class ExtractError(SupernetError):
    """Bad input to `supernet extract` / `supernet export` (budget, files, options)."""


class BudgetError(ExtractError):
    """A latency budget no subnet of the space can meet."""


class VerificationError(ExtractError):
    """The exported file failed a check (onnx.checker, onnxruntime parity): it must not ship."""
