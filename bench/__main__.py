"""`python -m bench [store|run|web|backtest ...]`: run benchmarks, print a table, write
artifacts/bench.json. Each benchmark module's `main()` prints its own detail and returns a dict
of figures; a figure given as {"value", "unit", "goal", "ok"} is shown in the summary table."""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

BENCHMARKS = {
    "store": "bench.store_bench",
    "run": "bench.run_bench",
    "web": "bench.web_bench",
    "backtest": "bench.backtest_bench",
    "load": "bench.load_bench",
    "broker": "bench.broker_bench",
}
REPORT = Path(__file__).resolve().parent.parent / "artifacts" / "bench.json"


def summary_rows(name: str, figures: dict) -> list[tuple[str, str, str, str]]:
    """(benchmark/figure, value, goal, verdict) for every figure that states a goal."""
    rows = []
    for key, figure in figures.items():
        if isinstance(figure, dict) and "value" in figure:
            value = f"{figure['value']:.4g} {figure.get('unit', '')}".strip()
            verdict = {True: "met", False: "MISSED", None: "-"}[figure.get("ok")]
            rows.append((f"{name}/{key}", value, str(figure.get("goal", "-")), verdict))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    results: dict[str, dict] = {}
    for name in args.names or list(BENCHMARKS):
        print(f"\n== bench {name} ==", flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(BENCHMARKS[name])
            results[name] = module.main() or {}
        except Exception as exc:  # a broken benchmark must not hide the others' figures
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"bench {name} failed: {exc}", file=sys.stderr)
        results[name]["seconds"] = round(time.perf_counter() - started, 1)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(results, indent=2, default=str))
    rows = [row for name, figures in results.items() for row in summary_rows(name, figures)]
    if rows:
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        print("\n" + "  ".join(h.ljust(w) for h, w in zip(("figure", "value", "goal", ""), widths, strict=True)))
        for row in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    print(f"\nwrote {REPORT}")
    return 1 if any("error" in figures for figures in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
