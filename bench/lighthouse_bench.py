"""Lighthouse (mobile: a mid-range phone on simulated slow 4G) on every page, logged in, against
run_prod.py (waitress) on a seeded store. `make lighthouse` installs Lighthouse from
bench/lighthouse/package.json (12.2.3, the last release that runs on Node 20) and runs this;
`make bench` runs it too once Lighthouse is installed, and skips it (saying so) otherwise.

Chromium is Debian's /usr/bin/chromium; the bench user's session cookie goes with every request.
Goals per page: performance ≥ 95, accessibility 100, first contentful paint < 1.8 s.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from auth import SESSION_COOKIE
from bench.synthetic_market import write_market
from bench.web_stack import logged_in, running_app, seeded_site
from config import PROJECT_DIR

LIGHTHOUSE = PROJECT_DIR / "bench" / "lighthouse" / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
CHROME_FLAGS = "--headless --no-sandbox --disable-gpu --disable-background-networking"
LOGS, TRADES = 20_000, 2_000
BACKTEST_ID = "bench-report"
PERFORMANCE_GOAL, ACCESSIBILITY_GOAL, FCP_GOAL_S = 95, 100, 1.8
PAGES = ("/", "/trading", "/strategy", "/strategy/runs/run-0999", "/logs", "/tokens",
         "/backtests", f"/backtests/{BACKTEST_ID}", "/account")


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


def main() -> dict[str, Any]:
    """Audit every page and print the scores beside the goals."""
    if not LIGHTHOUSE.exists():
        print("skipped: Lighthouse is not installed (`make lighthouse` installs and runs it)")
        return {}
    results = {}
    with tempfile.TemporaryDirectory() as folder, \
            seeded_site(Path(folder), LOGS, TRADES) as site:
        saved_backtest(site.workdir)
        with running_app(site) as app:
            cookie = logged_in(app.url).cookies[SESSION_COOKIE]
            for page in PAGES:
                results[page] = scores(audit(app.url + page, cookie))
    print(f"{'page':28} {'perf':>4} {'a11y':>4} {'FCP s':>6} {'LCP s':>6} {'TBT ms':>6} "
          f"{'KiB':>5}   goals: perf ≥ {PERFORMANCE_GOAL}, a11y {ACCESSIBILITY_GOAL}, "
          f"FCP < {FCP_GOAL_S} s")
    figures: dict[str, Any] = {}
    for page, got in results.items():
        print(f"{page:28} {got['performance']:4d} {got['accessibility']:4d} {got['fcp_s']:6.2f} "
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
    main()
