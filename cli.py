"""What every command-line tool's `__main__` shares: its exit, quiet when its reader has gone."""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import NoReturn

# What a shell reports for a writer killed by SIGPIPE (128 + 13), as `yes | head` reports.
EXIT_BROKEN_PIPE = 141


def run(main: Callable[[], int]) -> NoReturn:
    """`sys.exit(main())`; when stdout's reader stops early (`| head`), exit 141 without a
    BrokenPipeError traceback, as the Python docs advise (signal module, "Note on SIGPIPE")."""
    try:
        try:
            status = main()
        finally:  # flushed here, not at exit, so a reader gone shows up in this try
            sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit: pointed at devnull, it has nowhere left to fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = EXIT_BROKEN_PIPE
    sys.exit(status)
