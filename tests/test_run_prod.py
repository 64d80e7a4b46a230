"""`run_prod.py` refuses what it cannot serve on with one line and a non-zero exit."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from config import PROJECT_DIR


def run_prod(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "run_prod.py", *args],
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path}/shop.db"},
        capture_output=True, text=True, cwd=PROJECT_DIR, timeout=60)


def test_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_prod(tmp_path, "--host", "127.0.0.1", "--port", str(port))
    assert result.returncode == 1
    # The only other lines are start-up log lines (the first start saves the strategy settings).
    assert result.stderr.splitlines()[-1] == \
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert "Traceback" not in result.stderr


def test_an_address_of_another_machine_is_one_line(tmp_path):
    result = run_prod(tmp_path, "--host", "192.0.2.1", "--port", "8080")  # TEST-NET-1
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("error: cannot listen on 192.0.2.1:8080: ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("args", "error"), [
    (["--port", "99999"], "argument --port: '99999' is not a whole number from 0 to 65535"),
    (["--port", "-1"], "argument --port: '-1' is not a whole number from 0 to 65535"),
    (["--port", "http"], "argument --port: 'http' is not a whole number from 0 to 65535"),
    (["--threads", "0"], "argument --threads: '0' is not a whole number of at least 1"),
])
def test_bad_arguments_are_a_usage_error_not_a_traceback(tmp_path, args, error):
    result = run_prod(tmp_path, *args)
    assert result.returncode == 2
    assert result.stderr == f"python run_prod.py: error: {error} (see --help)\n"
    assert "Traceback" not in result.stderr
