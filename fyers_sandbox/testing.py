"""`start_sandbox(**options)`: a sandbox on 127.0.0.1 and a free port, in a background thread
(or a real subprocess with `process=True`), for tests, benchmarks and demos."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from fyers_sandbox.app import create_app
from fyers_sandbox.core import SandboxOptions

PROJECT_DIR = Path(__file__).resolve().parent.parent
# A Wednesday NSE session at 11:00 IST (the day before is a holiday, Guru Nanak Jayanti):
# tests and benchmarks set the clock here so prices and dates are the same on every run.
SESSION_MORNING = "2026-11-25T11:00:00"


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without the per-request access log line, and without a Date header
    of its own: the app's carries the sandbox clock (waitress, serving `python -m
    fyers_sandbox`, keeps an app's Date as it is)."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """Skip the access log; tests read /admin/stats instead."""

    def send_response(self, code: int, message: str | None = None) -> None:
        """The status line and Server header, as http.server sends them, less its Date."""
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Server", self.version_string())


class SandboxHandle:
    """A running sandbox: its `url`, admin calls, a direct login, and `stop()`."""

    def __init__(self, url: str, server: BaseWSGIServer | None = None,
                 process: subprocess.Popen | None = None) -> None:
        self.url = url
        self._server = server
        self._process = process
        self._http = requests.Session()

    def admin(self, path: str, method: str = "POST", **payload: Any) -> Any:
        """Call `/admin/<path>` with a JSON body and return the decoded reply."""
        reply = self._http.request(method, f"{self.url}/admin/{path}", json=payload or None,
                                   timeout=10)
        reply.raise_for_status()
        return reply.json()

    def requests_to(self, path: str) -> int:
        """How many requests the sandbox has seen on `path` (from GET /admin/stats)."""
        return self.admin("stats", method="GET")["requests"].get(path, 0)

    def login(self) -> tuple[str, str]:
        """(access_token, refresh_token) issued without the browser flow."""
        tokens = self.admin("login")
        return tokens["access_token"], tokens["refresh_token"]

    def stop(self) -> None:
        """Shut the server (thread or process) down and wait for it."""
        self._http.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process.stdout.close()

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _cli_args(options: SandboxOptions) -> list[str]:
    args = ["--port", "0", "--seed", str(options.seed), "--rate-limits",
            ",".join(f"{count}/{seconds}" for count, seconds in options.rate_limits)]
    if options.state_file:
        args += ["--state", str(options.state_file)]
    if not options.market_hours:
        args.append("--no-market-hours")
    if options.start:
        args += ["--start", options.start]
    if options.allowed_ips:
        args += ["--allowed-ips", ",".join(options.allowed_ips)]
    flags = {"--demo": options.demo, "--allow-refresh": options.allow_refresh}
    return args + [flag for flag, on in flags.items() if on]


def _start_process(options: SandboxOptions) -> SandboxHandle:
    process = subprocess.Popen([sys.executable, "-m", "fyers_sandbox", *_cli_args(options)],
                               cwd=PROJECT_DIR, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()  # "fyers sandbox listening on http://127.0.0.1:PORT"
    if "listening on " not in line:
        process.kill()
        raise RuntimeError(f"sandbox process did not start: {line!r}")
    return SandboxHandle(line.rsplit(" ", 1)[-1].strip(), process=process)


def start_sandbox(process: bool = False, **options: Any) -> SandboxHandle:
    """Start a sandbox with `SandboxOptions(**options)` on 127.0.0.1:<free port>."""
    settings = SandboxOptions(**options)
    if process:
        return _start_process(settings)
    server = make_server("127.0.0.1", 0, create_app(settings), threaded=True,
                         request_handler=QuietRequestHandler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     name="fyers-sandbox", daemon=True).start()
    return SandboxHandle(f"http://127.0.0.1:{server.server_port}", server=server)
