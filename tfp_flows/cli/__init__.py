"""Command-line conventions shared by every script of the suite.

* Bad options print one line, `prog: error: ...`, and exit with status 2.
* Errors found while running (bad data, unwritable files) print one line and exit 1.
* Ctrl-C prints one line and exits 130; whatever was written atomically stays valid.
* A reproduction exits 0 when every check passes, 1 on a mismatch, 3 when skipped
  (`tfp_flows.ledger`, the reproductions' ledger and tables).

Set `TFP_FLOWS_DEBUG=1` to see the full traceback of an unexpected error.
"""

import argparse
import os
import sys
import traceback
from pathlib import Path
from typing import Optional

from tfp_flows.errors import UsageError
from tfp_flows.files import ensure_writable_dir

__all__ = [
    "ArgumentParser",
    "UsageError",
    "positive_int",
    "nonnegative_int",
    "positive_float",
    "writable_dir",
    "reproduction_parser",
    "add_seed_option",
    "run",
]

# Every exit status of the suite's commands and reproduction scripts, defined here only.
EXIT_OK = 0
EXIT_FAILURE = 1  # an error while running (bad data, unwritable files)
EXIT_MISMATCH = 1  # a reproduction whose check failed
EXIT_USAGE = 2
EXIT_SKIPPED = 3  # a reproduction skipped for want of data
EXIT_INTERRUPTED = 130




class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose errors are one line and exit with status 2."""

    def error(self, message):  # noqa: D102 - argparse's hook
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _number(text, kind, check, what):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not check(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text):
    """argparse type: an integer >= 1."""
    return _number(text, int, lambda v: v >= 1, "a positive integer")


def nonnegative_int(text):
    """argparse type: an integer >= 0."""
    return _number(text, int, lambda v: v >= 0, "a non-negative integer")


def positive_float(text):
    """argparse type: a finite number > 0."""
    return _number(text, float, lambda v: 0 < v < float("inf"), "a positive number")


def writable_dir(text):
    """argparse type: a folder that exists or can be created, and can be written to."""
    try:
        return ensure_writable_dir(Path(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_seed_option(parser: argparse.ArgumentParser, default: Optional[int] = 0,
                    what: str = "random seed; the same seed gives the same numbers") -> None:
    """--seed for a parser written by hand: the one declaration beside TrainConfig's field
    (which the config-generated commands get). `what` says what the seed draws."""
    parser.add_argument("--seed", type=nonnegative_int, default=default, help=f"{what} (default: %(default)s)")


def reproduction_parser(description, default_ledger, default_out, seed=2019):
    """The parser every reproduction script starts from: --seed, --ledger, --out."""
    parser = ArgumentParser(description=description,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_seed_option(parser, seed)
    parser.add_argument("--ledger", type=Path, default=Path(default_ledger),
                        help="ledger of published values (default: %(default)s)")
    parser.add_argument("--out", type=writable_dir, default=str(default_out),
                        help="folder for results.json and pictures (default: %(default)s)")
    return parser


def run(main, argv=None, prog=None):
    """Call `main(argv)` and turn every failure into one line and an exit status.

    Returns the exit status, for `sys.exit(run(main))`.
    """
    prog = prog or Path(sys.argv[0]).name
    try:
        return int(main(argv) or 0)
    except UsageError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; files written so far are complete", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, TypeError, OSError) as err:
        _debug_traceback()
        print(f"{prog}: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as err:  # a bug: still one line, with a way to see more
        _debug_traceback()
        print(
            f"{prog}: internal error: {type(err).__name__}: {_one_line(err)} "
            "(set TFP_FLOWS_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILURE


# What an OSError's own text ("[Errno 20] Not a directory: 'x'") leaves the user to work out.
_OS_HINTS = {NotADirectoryError: "a file stands in this path where a folder is needed",
             IsADirectoryError: "a folder, where a file is needed"}


def _one_line(err):
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        hint = next((h for kind, h in _OS_HINTS.items() if isinstance(err, kind)), err.strerror.lower())
        err = f"{err.filename}: {hint}"
    text = " ".join(str(err).split())
    return text if len(text) <= 400 else text[:397] + "..."


def _debug_traceback():
    if os.environ.get("TFP_FLOWS_DEBUG"):
        traceback.print_exc()
