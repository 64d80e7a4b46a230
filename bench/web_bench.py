"""Pages as a user meets them: run_prod.py (waitress) on a store of 1,000,000 log rows and
100,000 trades with a position in every NIFTY 50 symbol, timed over HTTP on loopback from this
process. `python -m bench web` or `make bench-web`.

- cold: the first view of each page in a freshly started app process (every cache empty:
  prices fetched from the sandbox, trade figures computed, templates compiled), over
  COLD_STARTS starts; its p95 is the worst start.
- warm: the same page again and again (caches filled), WARMUP untimed then REQUESTS timed.
- load: USERS concurrent users for LOAD_S seconds, each walking every page in turn; the app
  process's resident memory sampled throughout (steady: median of the second half) and its
  peak (the kernel's high-water mark).
Goals: p95 < 20 ms on every page, cold and warm; steady RSS < 120 MB, peak < 150 MB, no error.
"""
from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from bench.web_stack import App, Site, logged_in, page_paths, running_app, seeded_site

LOGS = 1_000_000
TRADES = 100_000
COLD_STARTS = 5
WARMUP = 5
REQUESTS = 60
USERS = 20
LOAD_S = 60.0
RSS_SAMPLE_S = 0.25
P95_GOAL_MS = 20.0
STEADY_RSS_GOAL_MB = 120.0
PEAK_RSS_GOAL_MB = 150.0


def timed_get(session: requests.Session, url: str) -> float:
    """Milliseconds of one page view, which must succeed (and not bounce to the login)."""
    started = time.perf_counter()
    response = session.get(url, timeout=30)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200 or "/login" in response.url:
        raise RuntimeError(f"{url}: HTTP {response.status_code} ({response.url})")
    return elapsed


def cold_views(site: Site, paths: list[str]) -> dict[str, list[float]]:
    """The first view of each page in each of COLD_STARTS fresh app processes."""
    times: dict[str, list[float]] = {path: [] for path in paths}
    for _ in range(COLD_STARTS):
        with running_app(site) as app:
            session = logged_in(app.url)
            for path in paths:
                times[path].append(timed_get(session, app.url + path))
    return times


def warm_views(app: App, paths: list[str]) -> dict[str, list[float]]:
    """REQUESTS timed views of each page after WARMUP untimed ones."""
    session = logged_in(app.url)
    times = {}
    for path in paths:
        for _ in range(WARMUP):
            timed_get(session, app.url + path)
        times[path] = [timed_get(session, app.url + path) for _ in range(REQUESTS)]
    return times


def load(app: App, paths: list[str]) -> dict[str, Any]:
    """USERS users walking every page for LOAD_S seconds while the app's memory is sampled."""
    sessions = [logged_in(app.url) for _ in range(USERS)]
    latencies: list[float] = []
    errors: list[str] = []
    rss: list[float] = []
    until = time.monotonic() + LOAD_S

    def user(session: requests.Session, turn: int) -> None:
        while time.monotonic() < until:
            path = paths[turn % len(paths)]
            turn += 1
            try:
                latencies.append(timed_get(session, app.url + path))
            except (requests.RequestException, RuntimeError) as exc:
                errors.append(f"{path}: {exc}")

    threads = [threading.Thread(target=user, args=(session, number))
               for number, session in enumerate(sessions)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    while time.monotonic() < until:
        rss.append(app.rss_mb())
        time.sleep(RSS_SAMPLE_S)
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {"requests": len(latencies), "rate": len(latencies) / elapsed, "errors": errors,
            "p50": statistics.median(latencies), "p95": p95(latencies),
            "steady_rss": statistics.median(rss[len(rss) // 2:]), "peak_rss": app.peak_rss_mb()}


def p95(samples: list[float]) -> float:
    """The 95th percentile; the worst sample when there are too few for one."""
    return statistics.quantiles(samples, n=20)[18] if len(samples) >= 20 else max(samples)


def figure(value: float, unit: str, goal: float | None = None, **extra: Any) -> dict[str, Any]:
    """A summary-table figure; met when below `goal`."""
    if goal is None:
        return {"value": round(value, 2), "unit": unit, "goal": "-", "ok": None, **extra}
    return {"value": round(value, 2), "unit": unit, "goal": f"< {goal:g} {unit}",
            "ok": value < goal, **extra}


def main() -> dict[str, Any]:
    """Seed, measure cold, warm and under load, print beside the goals, return the figures."""
    with tempfile.TemporaryDirectory() as workdir, \
            seeded_site(Path(workdir), LOGS, TRADES, users=USERS + 2) as site:
        pages = page_paths(site)
        paths = list(pages.values())
        cold = cold_views(site, paths)
        with running_app(site) as app:
            warm = warm_views(app, paths)
            idle_rss = app.rss_mb()
            loaded = load(app, paths)
    figures: dict[str, Any] = {}
    print(f"waitress, {LOGS:,} logs, {TRADES:,} trades, 50 positions; cold: first view in "
          f"{COLD_STARTS} fresh processes; warm: {REQUESTS} views after {WARMUP}")
    print(f"{'page':42} {'cold p50':>8} {'cold p95':>8} {'warm p50':>8} {'warm p95':>8}   "
          f"goal p95 < {P95_GOAL_MS:g} ms")
    for label, path in pages.items():
        cold_p95, warm_p95 = max(cold[path]), p95(warm[path])
        print(f"{label[:42]:42} {statistics.median(cold[path]):8.1f} {cold_p95:8.1f} "
              f"{statistics.median(warm[path]):8.1f} {warm_p95:8.1f}   "
              f"{'met' if max(cold_p95, warm_p95) < P95_GOAL_MS else 'MISSED'}")
        figures[f"cold_p95_ms {label[:40]}"] = figure(cold_p95, "ms", P95_GOAL_MS,
                                                      p50=statistics.median(cold[path]))
        figures[f"warm_p95_ms {label[:40]}"] = figure(warm_p95, "ms", P95_GOAL_MS,
                                                      p50=statistics.median(warm[path]))
    print(f"load: {USERS} users x {LOAD_S:.0f} s on every page: {loaded['requests']} requests, "
          f"{loaded['rate']:.0f} req/s, p50 {loaded['p50']:.1f} ms, p95 {loaded['p95']:.1f} ms, "
          f"{len(loaded['errors'])} errors")
    for error in sorted(set(loaded["errors"]))[:5]:
        print("  error:", error)
    print(f"RSS: idle after the page views {idle_rss:.0f} MB; under load steady "
          f"{loaded['steady_rss']:.0f} MB (goal < {STEADY_RSS_GOAL_MB:g}), peak "
          f"{loaded['peak_rss']:.0f} MB (goal < {PEAK_RSS_GOAL_MB:g})")
    figures.update({
        "load_requests_per_s": figure(loaded["rate"], "req/s"),
        "load_p95_ms": figure(loaded["p95"], "ms"),
        "load_errors": {"value": len(loaded["errors"]), "unit": "", "goal": "0",
                        "ok": not loaded["errors"]},
        "idle_rss_mb": figure(idle_rss, "MB"),
        "steady_rss_mb": figure(loaded["steady_rss"], "MB", STEADY_RSS_GOAL_MB),
        "peak_rss_mb": figure(loaded["peak_rss"], "MB", PEAK_RSS_GOAL_MB),
    })
    return figures


if __name__ == "__main__":
    main()
