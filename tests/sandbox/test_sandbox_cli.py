"""`python -m fyers_sandbox` refuses what it cannot use in one line, without a traceback."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from config import PROJECT_DIR

PROG = "python -m fyers_sandbox"


def sandbox_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fyers_sandbox", *args], cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("args", "said"), [
    (["--port", "99999"], "argument --port: '99999' is not a port from 0 to 65535"),
    (["--start", "2024-02-30T10:00"], "argument --start: '2024-02-30T10:00' is not an ISO date "
                                      "and time, e.g. 2026-11-25T11:00"),
    (["--start", "2040-01-01T10:00"], "argument --start: '2040-01-01T10:00' is outside the "
                                      "simulated years (2012-01-02 to 2036-12-31)"),
])
def test_bad_options_are_usage_errors(args, said):
    done = sandbox_cli(*args)
    assert (done.returncode, done.stderr.splitlines()[-1]) == (2, f"{PROG}: error: {said}")


def test_a_state_file_that_is_no_database_is_one_line(tmp_path):
    state = tmp_path / "sandbox.db"
    state.write_bytes(b"not a database, just bytes " * 10)
    done = sandbox_cli("--state", str(state))
    assert (done.returncode, done.stderr) == (
        2, f"{PROG}: cannot use the state file {state}: file is not a database\n")


def test_a_port_in_use_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = sandbox_cli("--port", str(port))
    assert (done.returncode, done.stderr) == (
        1, f"{PROG}: cannot listen on 127.0.0.1:{port}: Address already in use\n")
