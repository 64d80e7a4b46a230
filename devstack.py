"""Start the Fyers sandbox and the web app (waitress, via run_prod.py) as real processes on
loopback ports with a fresh SQLite file: used by the browser tests and the load benchmark."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from cryptography.fernet import Fernet

from config import PROJECT_DIR


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout_s: float = 60) -> None:
    """Block until `url` answers, failing early when `process` dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


@dataclass
class Stack:
    """The running app and sandbox, and what a user needs to use them."""

    app_url: str
    sandbox_url: str
    database_url: str
    admin_password: str
    env: dict[str, str]
    processes: list[subprocess.Popen] = field(default_factory=list)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def start_stack(workdir: Path, sandbox_args: tuple[str, ...] = ("--demo",),
                **settings: str) -> Stack:
    """Sandbox + app on free ports, data in `workdir`; extra settings become env keys. The
    sandbox starts as `make run` starts it (`--demo`) unless `sandbox_args` say otherwise."""
    app_port, sandbox_port = free_port(), free_port()
    app_url, sandbox_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{sandbox_port}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "DATABASE_URL": f"sqlite:///{workdir}/nifty_shop.db",
        "SECRET_KEY": "devstack-secret-key",
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "FYERS_MODE": "sandbox",
        "FYERS_SANDBOX_URL": sandbox_url,
        "FYERS_REDIRECT_URI": f"{app_url}/tokens/callback",
        **settings,
    }
    with open(workdir / "sandbox.log", "w") as sandbox_log:  # the child keeps its own copy
        sandbox = subprocess.Popen(
            [sys.executable, "-m", "fyers_sandbox", "--port", str(sandbox_port),
             "--state", str(workdir / "sandbox.db"), *sandbox_args],
            cwd=PROJECT_DIR, env=env, stdout=sandbox_log, stderr=subprocess.STDOUT)
    app = subprocess.Popen(
        [sys.executable, "run_prod.py", "--host", "127.0.0.1", "--port", str(app_port),
         "--first-run"],
        cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stack = Stack(app_url, sandbox_url, env["DATABASE_URL"], "", env, [sandbox, app])
    try:
        wait_for_http(sandbox_url + "/admin/stats", sandbox)
        stack.admin_password = read_admin_password(app)
        wait_for_http(app_url + "/login", app)
    except BaseException:
        stack.stop()
        raise
    return stack


def read_admin_password(app: subprocess.Popen, timeout_s: float = 60) -> str:
    """The one-time admin password `run_prod.py --first-run` prints on a fresh database;
    the rest of the app's output is drained to a file so the pipe never fills."""
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        line = app.stdout.readline()
        if not line and app.poll() is not None:
            break
        seen.append(line)
        match = re.search(r"admin / (\S+)", line)
        if match:
            drain_in_background(app)
            return match.group(1)
    raise RuntimeError("run_prod.py printed no admin password:\n" + "".join(seen))


def drain_in_background(process: subprocess.Popen) -> None:
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
