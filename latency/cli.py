"""`supernet latency`: build, validate and query latency lookup tables."""

from __future__ import annotations

import argparse

from supernet.errors import SupernetError


def _not_available(args: argparse.Namespace) -> int:
    raise SupernetError(f"`supernet {args.command}` is not available yet")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("latency", help="build, validate and query latency lookup tables")
    p.set_defaults(func=_not_available)
