"""Load test: 20 concurrent users on the dashboard and logs pages of a real waitress process
for 60 s (bounded, loopback only). Prints requests/s, p50/p95 latency and errors."""
from __future__ import annotations

import re
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests

from devstack import start_stack

USERS = 20
DURATION_S = 60.0
PAGES = ("/", "/logs")
P95_GOAL_MS = 500.0


def logged_in_session(app_url: str, password: str) -> requests.Session:
    """A requests session holding the admin's login cookie (the CSRF token read from the form)."""
    session = requests.Session()
    form = session.get(f"{app_url}/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    response = session.post(f"{app_url}/login", timeout=10, data={
        "csrf_token": token, "username": "admin", "password": password})
    response.raise_for_status()
    if "/login" in response.url:
        raise RuntimeError("load bench could not log in")
    return session


def hammer(session: requests.Session, app_url: str, until: float,
           latencies: list[float], errors: list[str]) -> None:
    """One user: request the pages in turn until the deadline."""
    turn = 0
    while time.monotonic() < until:
        path = PAGES[turn % len(PAGES)]
        turn += 1
        started = time.perf_counter()
        try:
            response = session.get(app_url + path, timeout=30)
            if response.status_code != 200 or "/login" in response.url:
                errors.append(f"{path}: HTTP {response.status_code}")
        except requests.RequestException as exc:
            errors.append(f"{path}: {exc}")
        latencies.append((time.perf_counter() - started) * 1000)


def main(users: int = USERS, duration_s: float = DURATION_S) -> dict:
    with tempfile.TemporaryDirectory() as workdir:
        stack = start_stack(Path(workdir), MAX_SESSIONS_PER_USER=str(users + 1),
                            LOGIN_RATE_LIMIT="1000 per minute")
        try:
            sessions = [logged_in_session(stack.app_url, stack.admin_password)
                        for _ in range(users)]
            latencies: list[float] = []
            errors: list[str] = []
            until = time.monotonic() + duration_s
            threads = [threading.Thread(target=hammer, args=(s, stack.app_url, until,
                                                             latencies, errors))
                       for s in sessions]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
        finally:
            stack.stop()
    p95 = statistics.quantiles(latencies, n=20)[18] if len(latencies) > 20 else max(latencies)
    rate = len(latencies) / elapsed
    print(f"{users} users x {elapsed:.0f} s on {', '.join(PAGES)}: {len(latencies)} requests, "
          f"{rate:.1f} req/s, p50 {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms, "
          f"{len(errors)} errors")
    for error in sorted(set(errors))[:5]:
        print("  error:", error)
    return {
        "requests_per_s": {"value": rate, "unit": "req/s", "goal": "-", "ok": None},
        "p95_ms": {"value": p95, "unit": "ms", "goal": f"< {P95_GOAL_MS:.0f} ms",
                   "ok": p95 < P95_GOAL_MS},
        "errors": {"value": len(errors), "unit": "", "goal": "0", "ok": not errors},
    }


if __name__ == "__main__":
    main()
