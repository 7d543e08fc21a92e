"""What every `supernet` command group shares: help layout, common options, their checks, the error path.

`supernet train|space|tune`, `supernet latency ...` and `supernet extract|export` all build their options
from here, so a switch means the same everywhere: `-q/--quiet` (no progress bars), `--json` (one
machine-readable summary line on stdout), `--threads N`; every option shows its default in `--help`;
printed commands are `shlex.join`ed; and bad input, Ctrl-C and a closed pipe end the same way
(`run_command`): one line on stderr and exit 2, 130, or quietly.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import SupernetError

SPACE_HELP = "search space: a preset (mbv2-small, mbv2-imagenet) or a .yaml/.json file"
ARCH_HELP = (
    "arch: a JSON file, a canonical arch string (r28_w1d2k3.5e6.4_...), smallest, largest or a named member "
    "(mobilenetv2_100)"
)
CHECKPOINT_HELP = "training run directory (or its checkpoint.json)"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """timm's and Ray's layout: every option's help ends with its default (unless the text states it)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or "default" in text.lower() or action.default is argparse.SUPPRESS:
            return text
        if action.required:
            return f"{text} (required)".strip()
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            return f"{text} (default: {'on' if action.default else 'off'})".strip()
        if not action.option_strings and action.nargs not in ("?", "*"):
            return text
        return f"{text} (default: %(default)s)".strip()


def apply_conventions(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give `parser` and every subparser under it the shared help layout; returns `parser`."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                apply_conventions(sub)
        elif action.help is None and action.option_strings:
            action.help = action.dest.replace("_", " ")
    return parser


class Given(argparse.Action):
    """`store` (or, with `nargs=0`, `store_const`) that also lists the option string in
    `namespace.given_options`, so a command can refuse an option that does not apply to what it runs."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)
        namespace.given_options = *getattr(namespace, "given_options", ()), option_string


def given_among(args: argparse.Namespace, options) -> list[str]:
    """Those of `options` (option strings recorded by `Given`) given on the command line, in order, once."""
    return [o for o in dict.fromkeys(getattr(args, "given_options", ())) if o in options]


def it_or_them(names: list[str]) -> str:
    return "it" if len(names) == 1 else "them"


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or per-step lines")


def add_json(p: argparse.ArgumentParser, what: str = "a summary") -> None:
    p.add_argument(
        "--json", action="store_true", help=f"print {what} as one JSON line on stdout (other output: stderr)"
    )


def add_count(
    p: argparse.ArgumentParser, flag: str, bounds: tuple[int, int], default: int, *, help: str, **kw
) -> None:
    """An integer option bounded to [lo, hi] = `bounds` at parse time; its help ends with its default."""
    from .checks import int_arg

    p.add_argument(flag, type=int_arg(*bounds), default=default, help=help, **kw)


def add_threads(p: argparse.ArgumentParser, default: int = 1, what: str = "") -> None:
    from .checks import int_arg

    p.add_argument(
        "--threads",
        type=int_arg(1, 1024),
        default=default,
        metavar="N",
        help="torch CPU threads" + (f" ({what})" if what else ""),
    )


def set_threads(threads: int) -> None:
    """`torch.set_num_threads`, refusing a count below 1 with one line."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise SupernetError(f"--threads must be an integer >= 1, got {threads!r}")
    import torch

    torch.set_num_threads(threads)


def progress_disabled(quiet: bool = False) -> bool | None:
    """tqdm's `disable`: True when quiet, else None (tqdm then draws bars only on a terminal)."""
    return True if quiet else None


def command_line(argv: list[str] | None = None, prog: str = "supernet") -> str:
    """The command as a shell would need it typed (`shlex.join`)."""
    return shlex.join([prog, *(sys.argv[1:] if argv is None else argv)])


def print_json(summary: dict, file=None) -> None:
    """One machine-readable line (`--json`)."""
    print(json.dumps(summary, default=str, allow_nan=False), file=file or sys.stdout, flush=True)


@contextlib.contextmanager
def json_mode(enabled: bool) -> Iterator[None]:
    """While `enabled`, human-readable prints go to stderr, keeping stdout for the one JSON line."""
    if not enabled:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def read_config_file(
    path: str | Path, what: str = "config", error: type[SupernetError] = SupernetError
) -> dict:
    """A mapping from a YAML (.yaml/.yml) or JSON file; every way it can be wrong is one `error` line."""
    from .jsonfile import read_json, read_yaml

    p = Path(path)
    if p.suffix.lower() not in (".yaml", ".yml"):
        return read_json(p, what, error)
    data = read_yaml(p, what, error)
    if not isinstance(data, dict):
        raise error(f"{what} {p} must hold a mapping of option names to values")
    return data


def version() -> str:
    from importlib import metadata

    try:
        return metadata.version("supernet")
    except metadata.PackageNotFoundError:
        return "unknown"


def one_line(e: BaseException) -> str:
    """An error's message; one raised in a DataLoader worker (which torch re-raises with the worker's
    traceback in its text) is reduced to the original message."""
    text = str(e)
    if "\nOriginal Traceback" in text:
        text = text.rstrip().splitlines()[-1].split(": ", 1)[-1]
    return text


def run_command(func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace, name: str) -> int:
    """Run a parsed command: bad input is one line and exit 2; Ctrl-C exit 130; a closed pipe
    (`supernet latency show ... | head`) ends quietly instead of with a traceback. An OS error that no
    check turned into a message first (a path the file system refuses, e.g. a name too long) is one line
    naming the path, exit 2."""
    try:
        return int(func(args) or 0)
    except SupernetError as e:
        print(f"{name}: error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away: send what Python still flushes at exit to /dev/null (Python docs' recipe)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a killed writer
    except OSError as e:
        from .files import os_reason

        path = str(e.filename) if e.filename is not None else ""
        if len(path) > 160:
            path = f"{path[:100]}...{path[-50:]}"
        what = f"cannot use {path}: {os_reason(e)}; give another path, then rerun" if path else os_reason(e)
        print(f"{name}: error: {what}", file=sys.stderr)
        return 2
