"""The `supernet` command: assembles the subcommand groups that each package defines."""

from __future__ import annotations

import argparse
import sys

from supernet.errors import SupernetError


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (what is wrong, what is allowed) and exit code 2, like every other error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from extract.cli import register as register_extract
    from latency.cli import register as register_latency
    from supernet.cli import register as register_supernet

    parser = _Parser(
        prog="supernet",
        description="Train one elastic MobileNetV2 supernet, then cut out and ship the best subnet for a latency budget.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register_supernet(sub)
    register_latency(sub)
    register_extract(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SupernetError as e:
        print(f"supernet {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"supernet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
