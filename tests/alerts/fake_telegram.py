"""A tiny Telegram Bot API server on loopback: `POST /bot<token>/sendMessage`, recording messages.

It answers like api.telegram.org (`{"ok": true, "result": {...}}`, or `{"ok": false,
"error_code", "description"}`), so the notifier's real HTTP path is what the tests exercise.
"""
from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DESCRIPTIONS = {401: "Unauthorized", 400: "Bad Request: chat not found",
                429: "Too Many Requests: retry after 1", 500: "Internal Server Error"}


@dataclass
class TelegramState:
    """What the server knows: its one valid token, the messages it accepted, queued failures."""

    token: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    failures: deque[int] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    open_gate: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.open_gate.set()

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The status and JSON reply for one request, recording accepted messages."""
        with self.lock:
            self.requests += 1
            if path != f"/bot{self.token}/sendMessage":
                return 401 if path.endswith("/sendMessage") else 404, _error(401)
            if self.failures:
                return self.failures[0], _error(self.failures.popleft())
            if not body.get("chat_id") or not body.get("text"):
                return 400, _error(400)
            self.messages.append(body)
            return 200, {"ok": True, "result": {"message_id": len(self.messages),
                                                "chat": {"id": body["chat_id"]},
                                                "text": body["text"]}}


def _error(code: int) -> dict[str, Any]:
    reply: dict[str, Any] = {"ok": False, "error_code": code, "description": DESCRIPTIONS[code]}
    if code == 429:
        reply["parameters"] = {"retry_after": 1}
    return reply


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        """Answer a Bot API call with a JSON body."""
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = {}
        self.server.state.open_gate.wait(timeout=60)
        status, reply = self.server.state.answer(self.path, body)
        payload = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read the recorded state instead."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: TelegramState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class FakeTelegram:
    """A running server: `.url` is the Bot API base URL to put in TELEGRAM_API_URL."""

    def __init__(self, token: str) -> None:
        self.state = TelegramState(token)
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def texts(self) -> list[str]:
        """The text of every accepted message, oldest first."""
        with self.state.lock:
            return [message["text"] for message in self.state.messages]

    @property
    def request_count(self) -> int:
        """Every request received, accepted or not."""
        with self.state.lock:
            return self.state.requests

    def fail_next(self, *statuses: int) -> None:
        """Answer the next requests with these HTTP error statuses, in order."""
        with self.state.lock:
            self.state.failures.extend(statuses)

    def hold(self) -> None:
        """Keep every request waiting (a slow Telegram) until `release`."""
        self.state.open_gate.clear()

    def release(self) -> None:
        """Answer the waiting requests."""
        self.state.open_gate.set()

    def stop(self) -> None:
        """Stop serving and free the port: Telegram is down from here on."""
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
