"""The NIFTY 50 universe, kept in one data file (nifty50.csv) so an index change is a data edit."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

UNIVERSE_FILE = Path(__file__).resolve().parent / "nifty50.csv"


@dataclass(frozen=True)
class Instrument:
    symbol: str
    name: str
    base_price: float


@lru_cache(maxsize=1)
def nifty50() -> tuple[Instrument, ...]:
    """The 50 instruments in file order (alphabetical by symbol)."""
    with UNIVERSE_FILE.open(newline="") as handle:
        return tuple(Instrument(row["symbol"], row["name"], float(row["base_price"]))
                     for row in csv.DictReader(handle))


def nifty50_symbols() -> list[str]:
    return [instrument.symbol for instrument in nifty50()]
