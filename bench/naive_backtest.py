"""The strategy's rules as a plain pure-Python loop: the baseline backtest.py is measured against.

Written from docs/strategy.md alone, sharing no code with the project (stdlib only), the way
someone would write it in an afternoon: read each CSV with the csv module, then for every day
and every symbol average the last MA_PERIOD closes, rank, and fill at the close. No costs, no
slippage; a buy the cash cannot pay for is skipped. `python bench/naive_backtest.py --csv DIR
--from D --to D --out trades.csv [--capital X --ma-period N --entry PCT --exit PCT --average
PCT --max-trade-value X --candidates N --entries-per-run N]` writes date,symbol,side,qty,price,
reason.
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

TOLERANCE = 1e-9  # percentage points, as the docs say


def read_closes(folder: Path) -> dict[str, dict[str, float]]:
    """{symbol: {ISO date: close}} from NSE_XXX-EQ.csv files with a header naming date and close."""
    closes = {}
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="") as handle:
            rows = csv.reader(handle)
            header = [name.strip().lower() for name in next(rows)]
            at_date, at_close = header.index("date"), header.index("close")
            closes[path.stem.replace("_", ":", 1)] = {
                row[at_date][:10]: float(row[at_close]) for row in rows if row[at_close]}
    return closes


def backtest(closes: dict[str, dict[str, float]], args: argparse.Namespace) -> list[tuple]:
    """Every fill as (date, symbol, side, qty, price, reason), day by day."""
    days = sorted({day for series in closes.values() for day in series})
    history = {symbol: [] for symbol in closes}  # closes before the current day
    held: dict[str, list[float]] = {}  # symbol → [qty, avg price, last buy price]
    cash, fills = args.capital, []
    for day in days:
        if day > args.end:
            break
        today = {symbol: series[day] for symbol, series in closes.items() if day in series}
        if day >= args.start:
            orders = decide_day(history, today, held, args)
            for symbol, side, qty, reason in orders:
                price = today[symbol]
                if side == "SELL":
                    cash += qty * price
                    del held[symbol]
                elif qty * price <= cash:
                    cash -= qty * price
                    old_qty, old_avg, _ = held.get(symbol, (0, 0.0, 0.0))
                    new_qty = old_qty + qty
                    held[symbol] = [new_qty, (old_qty * old_avg + qty * price) / new_qty, price]
                else:
                    continue
                fills.append((day, symbol, side, qty, price, reason))
        for symbol, close in today.items():
            history[symbol].append(close)
    return fills


def decide_day(history: dict[str, list[float]], today: dict[str, float],
               held: dict[str, list[float]], args: argparse.Namespace) -> list[tuple]:
    """Exits, then entries, then (only without an entry) one average-down."""
    orders, sold = [], set()
    for symbol in sorted(held):
        qty, avg, _ = held[symbol]
        if symbol in today and (today[symbol] - avg) / avg * 100 >= args.exit - TOLERANCE:
            orders.append((symbol, "SELL", qty, "exit"))
            sold.add(symbol)
    ranked = []
    for symbol, price in today.items():
        past = history[symbol]
        if len(past) >= args.ma_period:
            ma = sum(past[-args.ma_period:]) / args.ma_period
            dev = (price - ma) / ma
            if -dev * 100 >= args.entry - TOLERANCE:
                ranked.append((dev, symbol))
    ranked.sort()
    entries = 0
    for _, symbol in ranked[:args.candidates]:
        if entries >= args.entries_per_run:
            break
        qty = math.floor(args.max_trade_value / today[symbol])
        if symbol not in held and qty >= 1:
            orders.append((symbol, "BUY", qty, "entry"))
            entries += 1
    if entries:
        return orders
    best = None
    for symbol, (_, _, last_buy) in held.items():
        if symbol in sold or symbol not in today:
            continue
        drop = (last_buy - today[symbol]) / last_buy * 100
        qty = math.floor(args.max_trade_value / today[symbol])
        if drop > args.average + TOLERANCE and qty >= 1 and (best is None or (-drop, symbol) < best):
            best = (-drop, symbol, qty)
    if best:
        orders.append((best[1], "BUY", best[2], "average"))
    return orders


def rule_arguments(parser: argparse.ArgumentParser) -> None:
    """The options both baselines take: where the candles are, the period, the output, the rules."""
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD")
    parser.add_argument("--to", dest="end", required=True, metavar="YYYY-MM-DD")
    parser.add_argument("--out", type=Path, required=True, metavar="trades.csv")
    parser.add_argument("--capital", type=float, default=400_000.0)
    parser.add_argument("--ma-period", type=int, default=20)
    parser.add_argument("--entry", type=float, default=0.0)
    parser.add_argument("--exit", type=float, default=6.28)
    parser.add_argument("--average", type=float, default=3.14)
    parser.add_argument("--max-trade-value", type=float, default=10_000.0)
    parser.add_argument("--candidates", type=int, default=5)
    parser.add_argument("--entries-per-run", type=int, default=1)


def write_fills(path: Path, fills: list[tuple]) -> None:
    """The fills as a CSV, the format both baselines write."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "symbol", "side", "qty", "price", "reason"])
        writer.writerows(fills)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/naive_backtest.py", description=__doc__)
    rule_arguments(parser)
    args = parser.parse_args(argv)
    write_fills(args.out, backtest(read_closes(args.csv), args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
