"""`supernet train` and `supernet space`: the subcommands of the `supernet/` package."""

from __future__ import annotations

import argparse
import json

from .errors import SupernetError
from .space import SearchSpace


def _not_available(args: argparse.Namespace) -> int:
    raise SupernetError(f"`supernet {args.command}` is not available yet")


def _space(args: argparse.Namespace) -> int:
    from .arch import ArchConfig

    space = SearchSpace.resolve(args.space)
    if args.validate:
        arch = ArchConfig.load(args.validate).validate(space)
        print(f"ok: {arch} is in {space.name}")
        return 0
    if args.json:
        print(json.dumps(space.to_dict(), indent=2))
    else:
        print(space.describe())
        print(f"fingerprint {space.fingerprint()}; smallest {space.smallest()}; largest {space.largest()}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("space", help="show a search space or check an arch against it")
    p.add_argument("space", help=f"preset ({', '.join(SearchSpace.preset_names())}) or a .yaml/.json file")
    p.add_argument("--json", action="store_true", help="print the space as JSON")
    p.add_argument("--validate", metavar="ARCH", help="arch JSON file or canonical string to check")
    p.set_defaults(func=_space)

    p = sub.add_parser("train", help="train a supernet with the BigNAS recipe")
    p.set_defaults(func=_not_available)
