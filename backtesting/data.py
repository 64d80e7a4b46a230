"""Daily closes for the backtest: from a CSV folder, the store's candle cache, or the broker.

CSV folder: one file per symbol with columns date,open,high,low,close,volume in any order (only
date and close are read; a date is YYYY-MM-DD, optionally followed by a time, which is ignored).
The file is named after the symbol with ':' replaced by '_' (`NSE_RELIANCE-EQ.csv`) or by the
bare ticker (`RELIANCE.csv`, read as `NSE:RELIANCE-EQ`), the extension in any case; two files
read as the same symbol are refused.

Plain Python lists, no pandas or numpy: a CSV backtest is over in less time than those two take
to import (docs/backtesting.md, "Speed").
"""
from __future__ import annotations

import csv
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from itertools import islice, pairwise
from operator import lt
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CSV_COLUMNS = ("date", "open", "high", "low", "close", "volume")
HISTORY_CALL_DAYS = 366  # Fyers: at most 366 days of daily candles per history call


class DataError(ValueError):
    """Candles are missing or malformed; the message says which file or symbol."""


@dataclass(frozen=True)
class SymbolHistory:
    """One symbol's daily closes, ascending by date (ISO `YYYY-MM-DD`), one per date."""

    dates: list[str]
    closes: list[float]

    @classmethod
    def from_rows(cls, symbol: str, rows: Sequence[Mapping[str, Any]]) -> SymbolHistory:
        """From `symbol`'s candle records as the store returns them: ascending, one per date."""
        dates = [str(row["date"]) for row in rows]
        if not _ascending(dates):
            raise DataError(f"{symbol}'s cached candles are not in ascending date order")
        closes = [float(row["close"]) for row in rows]
        return cls(dates, _checked_closes(dates, closes, f"{symbol}'s cached candles"))

    def __len__(self) -> int:
        return len(self.dates)


def _checked_closes(dates: list[str], closes: list[float], where: str) -> list[float]:
    """`closes`, when every one is a finite number above 0 (the engine relies on it); else a
    DataError naming the first date whose close is not (or the largest, when only their sum
    overflows)."""
    if closes and not (math.isfinite(sum(closes)) and min(closes) > 0):
        bad = next((n for n, close in enumerate(closes) if not 0 < close < math.inf),
                   closes.index(max(closes)))
        raise DataError(f"{where}: every close must be a positive number; the close of "
                        f"{dates[bad]} is {closes[bad]:g}")
    return closes


def _ascending(values: Sequence[str]) -> bool:
    """True when every value is greater than the one before it."""
    return all(map(lt, values, islice(values, 1, None)))


def symbol_from_filename(stem: str) -> str:
    """`NSE_RELIANCE-EQ` or `NSE:RELIANCE-EQ` → itself with ':'; `RELIANCE` → `NSE:RELIANCE-EQ`."""
    exchange, sep, rest = stem.partition("_") if ":" not in stem else stem.partition(":")
    if sep and exchange.isupper() and rest.endswith("-EQ"):
        return f"{exchange}:{rest}"
    return f"NSE:{stem.upper()}-EQ"


def _date_and_close_fields(path: Path, *, quick: bool) -> tuple[list[str], list[str]]:
    """The text of the date and close fields of every data row of one CSV file. `quick` splits
    on commas, twice the csv module's speed, when there are no quotes and the field count fits:
    a file whose lines are still uneven then reads as garbage, which _read_csv retries."""
    try:
        # A spreadsheet's byte-order mark is no column; a byte that is not UTF-8 (a Latin-1
        # export) is replaced: only the date and close fields are read, and those are ASCII.
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise DataError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    if not text or text.isspace():
        raise DataError(f"{path.name}: the file is empty; expected the header "
                        f"{','.join(CSV_COLUMNS)} and a row per day")
    head, _, body = text.partition("\n")
    header = [name.strip().lower() for name in next(csv.reader([head]), [])]
    missing = [column for column in ("date", "close") if column not in header]
    if missing and "\0" in head:  # UTF-16 has a NUL byte beside each ASCII letter
        raise DataError(f"{path.name}: not UTF-8 text (NUL bytes, as in UTF-16); save it as "
                        f"CSV UTF-8")
    if missing:
        raise DataError(f"{path.name}: missing column(s) {', '.join(missing)}; "
                        f"expected {','.join(CSV_COLUMNS)}")
    at_date, at_close, width = header.index("date"), header.index("close"), len(header)
    body = body.rstrip("\n")
    fields = body.replace("\n", ",").split(",") if quick and body and '"' not in text else []
    if len(fields) == width * (body.count("\n") + 1):
        return fields[at_date::width], fields[at_close::width]
    rows = [row for row in csv.reader(body.splitlines()) if row]
    if any(len(row) < width for row in rows):
        raise DataError(f"{path.name}: a row has fewer fields than the header")
    return [row[at_date] for row in rows], [row[at_close] for row in rows]


def _checked_days(days: list[str], path: Path, known: list[str]) -> list[str]:
    """`days` as YYYY-MM-DD (a time after the date is dropped), each a real date; `known` is
    the previous file's checked days, the usual case of a folder sharing one calendar."""
    if days == known:
        return known
    if set(map(len, days)) - {10}:
        days = [day.strip()[:10] for day in days]
    for day in set(days) - set(known):
        try:
            if date.fromisoformat(day).isoformat() == day:
                continue
        except ValueError:
            pass
        raise DataError(f"{path.name}: unreadable date {day!r}, expected YYYY-MM-DD")
    return days


def _read_csv(path: Path, known_days: list[str]) -> tuple[SymbolHistory, list[str]]:
    """One symbol's file: rows without a close left out, the last row of a repeated date kept;
    `known_days` as for _checked_days. Also the dates repeated with different closes."""
    try:
        return _history(path, *_date_and_close_fields(path, quick=True), known_days)
    except DataError:  # maybe a line the quick split misread: the csv module says what is wrong
        return _history(path, *_date_and_close_fields(path, quick=False), known_days)


def _history(path: Path, days: list[str], texts: list[str], known_days: list[str]
             ) -> tuple[SymbolHistory, list[str]]:
    """One symbol's closes from the text of its date and close fields, and the dates repeated
    with different closes."""
    try:
        closes = list(map(float, texts))
    except ValueError:
        kept = [(day, text) for day, text in zip(days, texts, strict=True) if text.strip()]
        days, texts = [day for day, _ in kept], [text for _, text in kept]
        try:
            closes = list(map(float, texts))
        except ValueError:
            day, text = next((day, text) for day, text in zip(days, texts, strict=True)
                             if not _is_number(text))
            raise DataError(f"{path.name}: unreadable close {text!r} on {day.strip()}, "
                            f"expected a number") from None
    days = _checked_days(days, path, known_days)
    _checked_closes(days, closes, path.name)
    if days is known_days or _ascending(days):  # the common case: nothing to sort or merge
        return SymbolHistory(days, closes), []
    by_day = dict(zip(days, closes, strict=True))  # a repeated date keeps its last close
    conflicts = sorted({day for day, close in zip(days, closes, strict=True)
                        if by_day[day] != close})
    days = sorted(by_day)
    return SymbolHistory(days, [by_day[day] for day in days]), conflicts


def _is_number(text: str) -> bool:
    """Whether float() reads `text`."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def is_csv_name(name: str) -> bool:
    """Whether a file named `name` is read as candles: `.csv` in any case, as exports name it."""
    return Path(name).suffix.lower() == ".csv"


def csv_files(folder: Path) -> dict[str, Path]:
    """The CSV file of each symbol in `folder` (see is_csv_name); a DataError names two files
    read as one symbol, since either could be the one meant."""
    try:
        paths = sorted(path for path in Path(folder).iterdir() if is_csv_name(path.name))
    except FileNotFoundError:
        raise DataError(f"the folder {folder} does not exist") from None
    except NotADirectoryError:
        raise DataError(f"{folder} is a file, not a folder of CSV files") from None
    except OSError as exc:
        raise DataError(f"the folder {folder} cannot be read ({exc.strerror or exc})") from None
    files: dict[str, Path] = {}
    for path in paths:
        symbol = symbol_from_filename(path.stem)
        if symbol in files:
            raise DataError(f"{files[symbol].name} and {path.name} are both read as {symbol}; "
                            f"keep one")
        files[symbol] = path
    return files


def read_csv_dir(folder: Path) -> tuple[dict[str, SymbolHistory], list[str]]:
    """Every CSV file of `folder` with candles, keyed by symbol, and one warning per file that
    has none (its symbol is left out) or repeats a date with different closes."""
    files = csv_files(folder)
    if not files:
        raise DataError(f"no .csv files in {folder}")
    histories: dict[str, SymbolHistory] = {}
    warnings = []
    known_days: list[str] = []
    for symbol, path in files.items():
        history, conflicts = _read_csv(path, known_days)
        if conflicts:
            warnings.append(f"{path.name}: {len(conflicts)} date(s) repeated with different "
                            f"closes (the first {conflicts[0]}); the last row of each is kept")
        if not history:
            warnings.append(f"{path.name}: no candles, so {symbol} is left out")
            continue
        histories[symbol] = history
        known_days = history.dates
    return histories, warnings


def log_warnings(warnings: list[str]) -> None:
    """read_csv_dir's warnings, one log line each (on stderr in backtest.py)."""
    for warning in warnings:
        logger.warning("%s", warning)


def load_csv_dir(folder: Path) -> dict[str, SymbolHistory]:
    """Every CSV file of `folder` with candles, keyed by symbol; read_csv_dir's warnings are
    logged."""
    histories, warnings = read_csv_dir(folder)
    log_warnings(warnings)
    return histories


def load_store(store: Any, symbols: Sequence[str], since: date) -> dict[str, SymbolHistory]:
    """The cached candles of `symbols` from `since` on; symbols with none are left out."""
    histories = {}
    for symbol in symbols:
        rows = store.get_candles(symbol, since=since.isoformat())
        if rows:
            histories[symbol] = SymbolHistory.from_rows(symbol, rows)
    return histories


def missing_ranges(cached: list[dict[str, Any]], start: date, end: date) -> list[tuple[date, date]]:
    """Date ranges of [start, end] the cache lacks: before its first candle, between two
    candles more than a week apart (NSE never closes that long: the cache holds a backtest's
    older candles and the runs' latest weeks, with nothing between), and after its last.

    A first candle within a week of `start` counts as covering it (weekends, holidays).
    """
    if not cached:
        return [(start, end)]
    dates = [date.fromisoformat(row["date"]) for row in cached]
    week, day = timedelta(days=7), timedelta(days=1)
    ranges = []
    if dates[0] > start + week:
        ranges.append((start, min(dates[0] - day, end)))
    for before, after in pairwise(dates):
        gap = (max(before + day, start), min(after - day, end))
        if after - before > week and gap[0] <= gap[1]:
            ranges.append(gap)
    if dates[-1] < end:
        ranges.append((dates[-1] + day, end))
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
                     symbol_done: Callable[[], None] | None = None) -> int:
    """Fetch through `broker.history` what the store's cache lacks of [start, end], cache it,
    and return how many candles were added, calling `symbol_done` after each symbol. The
    broker applies Fyers' rate limits."""
    added = 0
    for symbol in symbols:
        cached = store.get_candles(symbol, since=start.isoformat())
        for gap_start, gap_end in missing_ranges(cached, start, end):
            for call_start, call_end in chunks(gap_start, gap_end):
                candles = broker.history(symbol, call_start, call_end)
                store.upsert_candles(symbol, [asdict(candle) for candle in candles])
                added += len(candles)
        if symbol_done:
            symbol_done()
    logger.info("cached %d candles of %d symbols from the broker", added, len(symbols))
    return added
