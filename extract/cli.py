"""`supernet extract` and `supernet export`."""

from __future__ import annotations

import argparse

from supernet.errors import SupernetError


def _not_available(args: argparse.Namespace) -> int:
    raise SupernetError(f"`supernet {args.command}` is not available yet")


def register(sub: argparse._SubParsersAction) -> None:
    for name, text in (("extract", "search under a latency budget and export the best subnet"),
                       ("export", "export a given arch of a checkpoint to ONNX")):
        p = sub.add_parser(name, help=text)
        p.set_defaults(func=_not_available)
