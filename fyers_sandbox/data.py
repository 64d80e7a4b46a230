"""Market data: GET /data/history (daily candles) and GET /data/quotes, as the SDK sends them
(query parameters on a GET)."""
from __future__ import annotations

from datetime import UTC, date, datetime, time

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from fyers_sandbox.core import fail, ok, sandbox
from fyers_sandbox.market import IST, ist_midnight_epoch

bp = Blueprint("data", __name__, url_prefix="/data")

MAX_DAILY_RANGE_DAYS = 366
MAX_QUOTE_SYMBOLS = 50


def _parse_day(raw: str, date_format: str) -> date:
    """A range bound: 'yyyy-mm-dd' when date_format is 1, else epoch seconds."""
    if date_format == "1":
        return date.fromisoformat(raw)
    return datetime.fromtimestamp(int(float(raw)), IST).date()


@bp.get("/history")
def history() -> ResponseReturnValue:
    """Daily candles `[epoch of IST midnight, o, h, l, c, v]`, at most 366 days a call."""
    box = sandbox()
    args = request.args
    if not box.market.knows(args.get("symbol", "")):
        return fail(-300, "Invalid symbol provided")
    if args.get("resolution") not in ("D", "1D"):
        return fail(-50, "Only the daily resolution (D) is simulated")
    try:
        start = _parse_day(args["range_from"], args.get("date_format", "0"))
        end = _parse_day(args["range_to"], args.get("date_format", "0"))
    except (KeyError, ValueError):
        return fail(-50, "Invalid range_from / range_to for the given date_format")
    if end < start:
        return fail(-50, "range_to is before range_from")
    if (end - start).days > MAX_DAILY_RANGE_DAYS:
        return fail(-50, f"Range is more than {MAX_DAILY_RANGE_DAYS} days for daily resolution")
    bars = box.market.candles(args["symbol"], start, end, box.state.now())
    candles = [[ist_midnight_epoch(bar.day), bar.open, bar.high, bar.low, bar.close, bar.volume]
               for bar in bars]
    if not candles:
        return ok(s="no_data", candles=[])
    return ok(candles=candles)


def _quote_entry(symbol: str) -> dict:
    """One `d` entry: the quote, or a per-symbol error for a symbol the market lacks."""
    box = sandbox()
    if not box.market.knows(symbol):
        return {"n": symbol, "s": "error", "v": {"code": -300, "errmsg": "Invalid symbol"}}
    now = box.state.now()
    bar, previous = box.market.quote(symbol, now)
    change = round(bar.close - previous, 2)
    name = symbol.split(":")[-1].removesuffix("-EQ")
    return {"n": symbol, "s": "ok", "v": {
        "lp": bar.close, "ch": change, "chp": round(change / previous * 100, 2),
        "prev_close_price": previous, "open_price": bar.open, "high_price": bar.high,
        "low_price": bar.low, "volume": bar.volume, "ask": bar.close, "bid": bar.close,
        "spread": 0.0, "symbol": symbol, "short_name": name, "exchange": "NSE",
        "original_name": symbol, "description": symbol, "tt": _session_stamp(bar.day)}}


def _session_stamp(day: date) -> str:
    """The quote's `tt` as Fyers' documented sample has it: the session's date at 00:00 UTC,
    epoch seconds as a string (its time is the reply's Date header: app.after)."""
    return str(int(datetime.combine(day, time(0), UTC).timestamp()))


@bp.get("/quotes")
def quotes() -> ResponseReturnValue:
    """Quotes for up to 50 comma-separated symbols."""
    symbols = [s for s in request.args.get("symbols", "").split(",") if s]
    if not symbols:
        return fail(-300, "Please provide a valid symbol")
    if len(symbols) > MAX_QUOTE_SYMBOLS:
        return fail(-50, f"Maximum {MAX_QUOTE_SYMBOLS} symbols allowed per request")
    entries = [_quote_entry(symbol) for symbol in symbols]
    if all(entry["s"] == "error" for entry in entries):
        return fail(-300, "Please provide a valid symbol")
    return ok(d=entries)
