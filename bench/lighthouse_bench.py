"""Lighthouse (mobile: a mid-range phone on simulated slow 4G) on every page, logged in, against
run_prod.py (waitress) on a seeded store, then on the pages a state changes, in each state:
an empty store, a run with warnings, a failed run, a pending order (STATES). `make lighthouse` installs Lighthouse from
bench/lighthouse/package.json (12.2.3, the last release that runs on Node 20) and runs this;
`make bench` runs it too once Lighthouse is installed, and skips it (saying so) otherwise.

Chromium is Debian's /usr/bin/chromium; the bench user's session cookie goes with every request.
Goals per page: performance ≥ 95, accessibility 100, first contentful paint < 1.8 s.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from auth import SESSION_COOKIE
from bench.synthetic_market import write_market
from bench.web_stack import Site, logged_in, running_app, seeded_site
from config import PROJECT_DIR
from store import open_store

LIGHTHOUSE = PROJECT_DIR / "bench" / "lighthouse" / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
CHROME_FLAGS = "--headless --no-sandbox --disable-gpu --disable-background-networking"
LOGS, TRADES = 20_000, 2_000
BACKTEST_ID = "bench-report"
PERFORMANCE_GOAL, ACCESSIBILITY_GOAL, FCP_GOAL_S = 95, 100, 1.8
PAGES = ("/", "/trading", "/strategy", "/strategy/runs/run-0999", "/logs", "/tokens",
         "/backtests", f"/backtests/{BACKTEST_ID}", "/account")
# The states a page shows differently, each on a store of its own, and the pages it changes.
STATE_RUN = "run-state"
STATES = ("empty store", "run with warnings", "failed run", "pending order")
STATE_PAGES = ("/", "/trading", "/strategy", f"/strategy/runs/{STATE_RUN}", "/logs")


def saved_backtest(workdir: Path) -> None:
    """A backtest report for the Backtests pages, from a small synthetic market."""
    first, last = write_market(workdir / "candles", symbols=10, days=500)
    subprocess.run([sys.executable, "backtest.py", "--csv", str(workdir / "candles"),
                    "--from", first, "--to", last, "--out",
                    str(workdir / "backtests" / BACKTEST_ID)],
                   cwd=PROJECT_DIR, check=True, capture_output=True)


def audit(url: str, cookie: str) -> dict[str, Any]:
    """Lighthouse's report of one page, mobile preset, performance and accessibility only."""
    report = subprocess.run(
        [str(LIGHTHOUSE), url, "--output=json", "--output-path=stdout", "--quiet",
         "--only-categories=performance,accessibility", f"--chrome-flags={CHROME_FLAGS}",
         f"--extra-headers={json.dumps({'Cookie': f'{SESSION_COOKIE}={cookie}'})}"],
        env={**os.environ, "CHROME_PATH": CHROMIUM}, capture_output=True, text=True,
        timeout=300, check=False)
    if report.returncode != 0:
        raise RuntimeError(f"lighthouse failed on {url}: {report.stderr.strip()[-500:]}")
    return json.loads(report.stdout)


def scores(report: dict[str, Any]) -> dict[str, Any]:
    """The figures of one report, and the audits that cost accessibility points."""
    categories, audits = report["categories"], report["audits"]
    failed = sorted(audits[ref["id"]]["id"] for ref in categories["accessibility"]["auditRefs"]
                    if ref["weight"] and audits[ref["id"]]["score"] not in (None, 1))
    return {"performance": round(categories["performance"]["score"] * 100),
            "accessibility": round(categories["accessibility"]["score"] * 100),
            "fcp_s": audits["first-contentful-paint"]["numericValue"] / 1000,
            "lcp_s": audits["largest-contentful-paint"]["numericValue"] / 1000,
            "tbt_ms": audits["total-blocking-time"]["numericValue"],
            "cls": audits["cumulative-layout-shift"]["numericValue"],
            "bytes": audits["total-byte-weight"]["numericValue"],
            "accessibility_failures": failed}


def seed_state(database_url: str, state: str, now: float) -> None:
    """Leave the store as `state` leaves it (on top of the bench user and Fyers login): a run
    with warnings (an order not filled in time, one rejected), a failed run, or a run whose
    order still waits at Fyers; the empty store gets nothing more."""
    if state == "empty store":
        return
    store = open_store(database_url)
    status, summary, error = {
        "run with warnings": ("warning", "Nothing bought or sold; 1 order not filled in 30 s, "
                              "cancelled; 1 order rejected by Fyers.", None),
        "failed run": ("failed", "Fyers could not be reached or answered with a server error: "
                       "check the internet connection and Fyers' status, then press Run now.",
                       "HTTP 503 with a reply that is not JSON"),
        "pending order": ("succeeded", "Nothing bought or sold; 1 order waiting at Fyers for "
                          "the open.", None)}[state]
    store.create_run({"run_id": STATE_RUN, "trigger": "manual", "status": status,
                      "started_at": now - 60, "finished_at": now - 20, "summary": summary,
                      "error": error, "dry_run": False})
    store.update_run(STATE_RUN, steps=[{"name": name, "state": "done", "detail": detail,
                                        "at": now - 30} for name, detail in (
        ("login", "Fyers accepted the login"), ("prices", "50 prices read"),
        ("decisions", "buy 5 BAJAJFINSV for ₹8,379.35"), ("orders", summary[:-1]),
        ("fills", "nothing filled"))])
    outcomes = {"run with warnings": [("unfilled", "Cancelled by user", 30.0),
                                      ("rejected", "RMS: insufficient funds", None)],
                "failed run": [],
                "pending order": [("placed", "waits for the open (NSE is closed until Mon "
                                             "09:15 IST)", None)]}[state]
    for number, (order_status, message, wait_s) in enumerate(outcomes):
        store.upsert_order({"tag": f"NSstate{number}", "run_id": STATE_RUN,
                            "symbol": ("NSE:BAJAJFINSV-EQ", "NSE:TCS-EQ")[number], "side": "BUY",
                            "qty": 5, "reason": "entry", "broker_order_id": f"2612050000000{number}",
                            "status": order_status, "filled_qty": 0, "traded_price": None,
                            "message": message, "created_at": now - 50, "updated_at": now - 25,
                            "wait_s": wait_s, "rest": None})
    store.insert_logs([{"ts": now - 25, "level": "WARNING", "logger": "order_flow",
                        "run_id": STATE_RUN, "extra": {}, "message": summary}])
    store.close()


def audit_states() -> dict[str, dict[str, Any]]:
    """Scores of STATE_PAGES in each of STATES, keyed 'page (state)'."""
    results = {}
    for state in STATES:
        with tempfile.TemporaryDirectory() as folder, \
                seeded_site(Path(folder), 0, 0, seed_store=False) as site:
            child = multiprocessing.get_context("spawn").Process(
                target=seed_state, args=(site.env["DATABASE_URL"], state, time.time()))
            child.start()
            child.join()
            with running_app(site) as app:
                cookie = logged_in(app.url).cookies[SESSION_COOKIE]
                for page in STATE_PAGES:
                    if page.endswith(STATE_RUN) and state == "empty store":
                        continue
                    results[f"{page} ({state})"] = scores(audit(app.url + page, cookie))
    return results


def audit_seeded(site: Site) -> dict[str, dict[str, Any]]:
    """Scores of every page on the big seeded store."""
    saved_backtest(site.workdir)
    with running_app(site) as app:
        cookie = logged_in(app.url).cookies[SESSION_COOKIE]
        return {page: scores(audit(app.url + page, cookie)) for page in PAGES}


def main(states_only: bool = False) -> dict[str, Any]:
    """Audit every page, then the pages each state changes, and print the scores beside the
    goals (`states_only`: the states alone)."""
    if not LIGHTHOUSE.exists():
        print("skipped: Lighthouse is not installed (`make lighthouse` installs and runs it)")
        return {}
    results = {}
    if not states_only:
        with tempfile.TemporaryDirectory() as folder, \
                seeded_site(Path(folder), LOGS, TRADES) as site:
            results.update(audit_seeded(site))
    results.update(audit_states())
    print(f"{'page':44} {'perf':>4} {'a11y':>4} {'FCP s':>6} {'LCP s':>6} {'TBT ms':>6} "
          f"{'KiB':>5}   goals: perf ≥ {PERFORMANCE_GOAL}, a11y {ACCESSIBILITY_GOAL}, "
          f"FCP < {FCP_GOAL_S} s")
    figures: dict[str, Any] = {}
    for page, got in results.items():
        print(f"{page:44} {got['performance']:4d} {got['accessibility']:4d} {got['fcp_s']:6.2f} "
              f"{got['lcp_s']:6.2f} {got['tbt_ms']:6.0f} {got['bytes'] / 1024:5.0f}"
              + (f"   a11y: {', '.join(got['accessibility_failures'])}"
                 if got["accessibility_failures"] else ""))
        figures[f"performance {page}"] = {
            "value": got["performance"], "unit": "", "goal": f"≥ {PERFORMANCE_GOAL}",
            "ok": got["performance"] >= PERFORMANCE_GOAL, **got}
        figures[f"accessibility {page}"] = {
            "value": got["accessibility"], "unit": "", "goal": str(ACCESSIBILITY_GOAL),
            "ok": got["accessibility"] >= ACCESSIBILITY_GOAL}
        figures[f"fcp_s {page}"] = {"value": got["fcp_s"], "unit": "s",
                                    "goal": f"< {FCP_GOAL_S} s", "ok": got["fcp_s"] < FCP_GOAL_S}
    return figures


if __name__ == "__main__":
    main(states_only="--states" in sys.argv[1:])
