"""Daily closes for the backtest: from a CSV folder, the store's candle cache, or the broker.

CSV folder: one file per symbol with columns date,open,high,low,close,volume (date as
YYYY-MM-DD; only date and close are used). The file is named after the symbol with ':'
replaced by '_' (`NSE_RELIANCE-EQ.csv`) or by the bare ticker (`RELIANCE.csv`, read as
`NSE:RELIANCE-EQ`).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

CSV_COLUMNS = ("date", "open", "high", "low", "close", "volume")
HISTORY_CALL_DAYS = 366  # Fyers: at most 366 days of daily candles per history call
Progress = Callable[[int, int, str], None]


class DataError(ValueError):
    """Candles are missing or malformed; the message says which file or symbol."""


@dataclass(frozen=True)
class SymbolHistory:
    """One symbol's daily closes, ascending by date, without duplicate dates."""

    dates: np.ndarray  # datetime64[D]
    closes: np.ndarray  # float64

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]]) -> SymbolHistory:
        """From candle records as the store returns them: ascending, one per date."""
        dates = np.array([row["date"] for row in rows], dtype="datetime64[D]")
        if np.any(dates[1:] <= dates[:-1]):
            raise DataError("candles are not in ascending date order")
        return cls(dates, np.array([row["close"] for row in rows], dtype=np.float64))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> SymbolHistory:
        """From a frame with `date` and `close` columns; the last row of a repeated date wins."""
        frame = frame.assign(date=pd.to_datetime(frame["date"]).dt.normalize())
        frame = frame.drop_duplicates("date", keep="last").sort_values("date")
        return cls(frame["date"].to_numpy("datetime64[D]"),
                   frame["close"].to_numpy(np.float64))

    def __len__(self) -> int:
        return len(self.dates)


def symbol_from_filename(stem: str) -> str:
    """`NSE_RELIANCE-EQ` or `NSE:RELIANCE-EQ` → itself with ':'; `RELIANCE` → `NSE:RELIANCE-EQ`."""
    exchange, sep, rest = stem.partition("_") if ":" not in stem else stem.partition(":")
    if sep and exchange.isupper() and rest.endswith("-EQ"):
        return f"{exchange}:{rest}"
    return f"NSE:{stem.upper()}-EQ"


def load_csv_dir(folder: Path) -> dict[str, SymbolHistory]:
    """Every `*.csv` of `folder`, keyed by symbol."""
    files = sorted(Path(folder).glob("*.csv"))
    if not files:
        raise DataError(f"no .csv files in {folder}")
    histories = {}
    for path in files:
        frame = pd.read_csv(path)
        frame.columns = [str(column).strip().lower() for column in frame.columns]
        missing = [column for column in ("date", "close") if column not in frame.columns]
        if missing:
            raise DataError(f"{path.name}: missing column(s) {', '.join(missing)}; "
                            f"expected {','.join(CSV_COLUMNS)}")
        try:
            histories[symbol_from_filename(path.stem)] = SymbolHistory.from_frame(
                frame.dropna(subset=["close"]))
        except (ValueError, TypeError) as exc:
            raise DataError(f"{path.name}: unreadable date or close ({exc})") from None
    return histories


def load_store(store: Any, symbols: Sequence[str], since: date) -> dict[str, SymbolHistory]:
    """The cached candles of `symbols` from `since` on; symbols with none are left out."""
    histories = {}
    for symbol in symbols:
        rows = store.get_candles(symbol, since=since.isoformat())
        if rows:
            histories[symbol] = SymbolHistory.from_rows(rows)
    return histories


def missing_ranges(cached: list[dict[str, Any]], start: date, end: date) -> list[tuple[date, date]]:
    """Date ranges of [start, end] the cache lacks: before its first and after its last candle.

    A first candle within a week of `start` counts as covering it (weekends, holidays).
    """
    if not cached:
        return [(start, end)]
    first, last = date.fromisoformat(cached[0]["date"]), date.fromisoformat(cached[-1]["date"])
    ranges = []
    if first > start + timedelta(days=7):
        ranges.append((start, first - timedelta(days=1)))
    if last < end:
        ranges.append((last + timedelta(days=1), end))
    return ranges


def chunks(start: date, end: date, days: int = HISTORY_CALL_DAYS) -> list[tuple[date, date]]:
    """[start, end] cut into consecutive ranges of at most `days` days."""
    out = []
    while start <= end:
        stop = min(end, start + timedelta(days=days - 1))
        out.append((start, stop))
        start = stop + timedelta(days=1)
    return out


def fetch_into_store(broker: Any, store: Any, symbols: Sequence[str], start: date, end: date,
                     progress: Progress | None = None) -> int:
    """Fetch through `broker.history` what the store's cache lacks of [start, end], cache it,
    and return how many candles were added. The broker applies Fyers' rate limits."""
    added = 0
    for number, symbol in enumerate(symbols, 1):
        if progress:
            progress(number, len(symbols), symbol)
        cached = store.get_candles(symbol, since=start.isoformat())
        for gap_start, gap_end in missing_ranges(cached, start, end):
            for call_start, call_end in chunks(gap_start, gap_end):
                candles = broker.history(symbol, call_start, call_end)
                store.upsert_candles(symbol, [asdict(candle) for candle in candles])
                added += len(candles)
    logger.info("cached %d candles of %d symbols from the broker", added, len(symbols))
    return added
