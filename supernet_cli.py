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


def _command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub)command that `args` ran, e.g. `supernet latency build`'s."""
    for action in parser._actions:
        if (
            isinstance(action, argparse._SubParsersAction)
            and getattr(args, action.dest, None) in action.choices
        ):
            return _command_parser(action.choices[getattr(args, action.dest)], args)
    return parser


def _empty_argument(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str | None:
    """The first argument given an empty (or blank) string, as the user wrote its name."""
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        if any(isinstance(v, str) and not v.strip() for v in (value if isinstance(value, list) else [value])):
            return "/".join(action.option_strings) or action.metavar or action.dest
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    command = _command_parser(parser, args)  # errors name the (sub)command, e.g. `supernet latency kit`
    if extra:
        command.error(f"unrecognized arguments: {' '.join(extra)}")
    empty = _empty_argument(command, args)
    if empty:  # '' never names a file, arch, target or anything else an argument takes
        command.error(f"argument {empty}: an empty value is not allowed")
    if args.command is None:  # bare `supernet`: the overview, not an error
        parser.print_help()
        return 0
    return run_command(args.func, args, command.prog)


if __name__ == "__main__":
    sys.exit(main())
