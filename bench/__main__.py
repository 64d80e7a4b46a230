"""`python -m bench [store|run|web|backtest ...]`: run benchmarks, print a table, write
artifacts/bench.json. Each benchmark module's `main()` prints its own detail and returns a dict
of figures; a figure given as {"value", "unit", "goal", "ok"} is shown in the summary table."""
from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCHMARKS = {
    "store": "bench.store_bench",
    "run": "bench.run_bench",
    "web": "bench.web_bench",
    "backtest": "bench.backtest_bench",
    "broker": "bench.broker_bench",
    "lighthouse": "bench.lighthouse_bench",
}
PROJECT_DIR = Path(__file__).resolve().parent.parent
REPORT = PROJECT_DIR / "artifacts" / "bench.json"


def summary_rows(name: str, figures: dict) -> list[tuple[str, str, str, str]]:
    """(benchmark/figure, value, goal, verdict) for every figure that states a goal."""
    rows = []
    for key, figure in figures.items():
        if isinstance(figure, dict) and "value" in figure:
            value = f"{figure['value']:.4g} {figure.get('unit', '')}".strip()
            verdict = {True: "met", False: "MISSED", None: "-"}[figure.get("ok")]
            rows.append((f"{name}/{key}", value, str(figure.get("goal", "-")), verdict))
    return rows


def run_one(name: str) -> dict:
    """One benchmark in a fresh Python process, so memory figures (RSS) and process-wide state
    (log handlers, registered secrets, rate limiters) of one never leak into another."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        child = subprocess.run([sys.executable, "-m", "bench", "--one", name, "--json", out.name],
                               cwd=PROJECT_DIR, check=False)
        figures = json.loads(Path(out.name).read_text() or "{}")
    if child.returncode != 0 and "error" not in figures:
        figures["error"] = f"exit status {child.returncode}"
    return figures


def run_here(name: str) -> dict:
    try:
        return importlib.import_module(BENCHMARKS[name]).main() or {}
    except Exception as exc:  # a broken benchmark must not hide the others' figures
        print(f"bench {name} failed: {exc}", file=sys.stderr)
        return {"error": f"{type(exc).__name__}: {exc}"}


def print_summary(results: dict[str, dict]) -> None:
    rows = [row for name, figures in results.items() for row in summary_rows(name, figures)]
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    header = ("figure", "value", "goal", "")
    print("\n" + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child mode: run one, write --json
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names + ([args.one] if args.one else [])) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    if args.one:
        figures = run_here(args.one)
        Path(args.json).write_text(json.dumps(figures, default=str))
        return 1 if "error" in figures else 0
    results: dict[str, dict] = {}
    for name in args.names or list(BENCHMARKS):
        print(f"\n== bench {name} ==", flush=True)
        started = time.perf_counter()
        results[name] = run_one(name)
        results[name]["seconds"] = round(time.perf_counter() - started, 1)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(results, indent=2, default=str))
    print_summary(results)
    print(f"\nwrote {REPORT}")
    return 1 if any("error" in figures for figures in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
