"""What every command-line tool's `__main__` shares: its exit, quiet when its reader has gone or
Ctrl-C stops it."""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

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
