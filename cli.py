"""What every command-line tool's `__main__` shares: its exit, quiet when its reader has gone or
Ctrl-C stops it, and usage errors in one line."""
from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from indian_digits import grouped

# What a shell reports for a writer killed by SIGPIPE (128 + 13), as `yes | head` reports.
EXIT_BROKEN_PIPE = 141
# What a shell reports for a command stopped by Ctrl-C (128 + SIGINT's 2).
EXIT_INTERRUPTED = 130


def run(main: Callable[[], int]) -> NoReturn:
    """`sys.exit(main())`; when stdout's reader stops early (`| head`), exit 141 without a
    BrokenPipeError traceback, as the Python docs advise (signal module, "Note on SIGPIPE"); when
    Ctrl-C stops it, exit 130 with one line, `<tool>: interrupted`, instead of a traceback."""
    try:
        try:
            status = main()
        finally:  # flushed here, not at exit, so a reader gone shows up in this try
            sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit: pointed at devnull, it has nowhere left to fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print(f"{Path(sys.argv[0]).stem}: interrupted", file=sys.stderr)
        status = EXIT_INTERRUPTED
    sys.exit(status)


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (the usage itself is in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def number_type(kind: type[int] | type[float], minimum: float, *, inclusive: bool = True,
                maximum: float = math.inf) -> Callable[[str], Any]:
    """An argparse type: a finite `kind` of at least `minimum` (above it unless `inclusive`)
    and at most `maximum`; anything else is a usage error saying what is wanted."""
    noun = "a whole number" if kind is int else "a number"
    # A whole amount reads 10,00,00,00,00,000 (₹1 lakh crore), not 1e+12; counts and ports as
    # they are.
    low, high = (f"{bound:.0f}" if kind is int
                 else grouped(bound, 0) if float(bound).is_integer() else f"{bound:g}"
                 for bound in (minimum, maximum))
    if maximum < math.inf:
        wanted = (f"{noun} from {low} to {high}" if inclusive
                  else f"{noun} greater than {low} and at most {high}")
    else:
        wanted = f"{noun} of at least {low}" if inclusive else f"{noun} greater than {low}"

    def parse(raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not {wanted}") from None
        if (not math.isfinite(value) or value < minimum or value > maximum
                or (value == minimum and not inclusive)):
            raise argparse.ArgumentTypeError(f"{raw!r} is not {wanted}")
        return value

    return parse
