"""Every command-line tool ends quietly when whatever reads its output stops early (`| head`)
or Ctrl-C stops it, and says what was wrong with its arguments in one line."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import pytest

from bench.synthetic_market import write_market
from cli import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED
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


@pytest.mark.parametrize("tool", TOOLS)
def test_a_bad_argument_is_one_line_with_exit_2(tool):
    done = subprocess.run([sys.executable, tool, "--no-such-option"], cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"python {tool}: error: ") and done.stderr.count("\n") == 1
    assert done.stderr.endswith(" (see --help)\n")


def test_ctrl_c_while_candles_load_is_one_line_and_keeps_the_earlier_backtest(tmp_path):
    """^C before a backtest writes anything: exit 130, `backtest: interrupted`, no traceback,
    and --out as it was. A FIFO among the CSVs holds the run in its read, so the ^C lands there
    and not by chance elsewhere."""
    market, out = tmp_path / "market", tmp_path / "out"
    write_market(market, 3, 60)
    command = [sys.executable, "backtest.py", "--csv", str(market), "--from", "1990-03-01",
               "--to", "1990-03-20", "--out", str(out)]
    env = {**os.environ, "FYERS_MODE": "sandbox",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}"}
    subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True, check=True)
    earlier = {path.name: path.read_bytes() for path in out.iterdir()}
    fifo = market / "NSE_SLOW-EQ.csv"
    os.mkfifo(fifo)
    run = subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        writer = _when_read(fifo, run)
        run.send_signal(signal.SIGINT)
        stdout, stderr = run.communicate(timeout=60)
        os.close(writer)
    finally:
        run.kill()
    assert (run.returncode, stdout, stderr) == (EXIT_INTERRUPTED, "", "backtest: interrupted\n")
    assert {path.name: path.read_bytes() for path in out.iterdir()} == earlier


def _when_read(fifo, process: subprocess.Popen) -> int:
    """A writer's end of `fifo`, opened once `process` has it open to read (a non-blocking
    writer is refused until then)."""
    for _ in range(600):
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or process.poll() is not None:
                raise
            time.sleep(0.05)
    raise AssertionError(f"{fifo.name} was never opened")
