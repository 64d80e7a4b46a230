"""Every command-line tool ends quietly when whatever reads its output stops early (`| head`)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cli import EXIT_BROKEN_PIPE
from config import PROJECT_DIR

TOOLS = ["backtest.py", "executor.py", "notifier.py", "retention.py", "run_prod.py",
         "token_refresh.py", "verify_db.py"]


@pytest.mark.parametrize("tool", TOOLS)
def test_a_reader_gone_early_is_no_traceback(tool, closed_pipe):
    # Buffered, as a shell starts it: argparse writes the help without error, and Python's
    # flush of it, after main() has returned, meets the pipe's closed end.
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    done = subprocess.run([sys.executable, tool, "--help"], cwd=PROJECT_DIR, env=env,
                          stdout=closed_pipe, stderr=subprocess.PIPE, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (EXIT_BROKEN_PIPE, "")
