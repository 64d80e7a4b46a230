"""Fixtures of the backtest suite: the hand-made scenario written as CSV files."""
from __future__ import annotations

import pytest

from tests.backtest.scenario import scenario_closes, write_csv


@pytest.fixture
def scenario_dir(tmp_path):
    """The scenario as CSV files, named both ways the loader accepts."""
    folder = tmp_path / "candles"
    folder.mkdir()
    names = {"AAA": "AAA", "BBB": "NSE_BBB-EQ", "CCC": "CCC"}
    for symbol, closes in scenario_closes().items():
        write_csv(folder, names[symbol], closes)
    return folder
