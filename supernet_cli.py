"""The `supernet` command: assembles the subcommand groups that each package defines."""

from __future__ import annotations

import argparse
import sys

from supernet.cli_common import HelpFormatter, apply_conventions, run_command, version


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
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    register_supernet(sub)
    register_latency(sub)
    register_extract(sub)
    return apply_conventions(parser)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `supernet`: the overview, not an error
        parser.print_help()
        return 0
    return run_command(args.func, args, f"supernet {args.command}")


if __name__ == "__main__":
    sys.exit(main())
