"""Where the backtest's candles come from: CSV files, the store's cache, the broker's gaps."""
from __future__ import annotations

import os
import shutil
import time
from datetime import date, timedelta

import pytest

import backtest
from backtest import load_histories
from backtesting.candle_cache import load_csv_dir_cached
from backtesting.data import DataError, chunks, load_csv_dir, missing_ranges, symbol_from_filename
from tests.backtest.scenario import DATES, SCENARIO_ARGS, scenario_closes


@pytest.mark.parametrize(("stem", "symbol"), [
    ("NSE_RELIANCE-EQ", "NSE:RELIANCE-EQ"),
    ("NSE:RELIANCE-EQ", "NSE:RELIANCE-EQ"),
    ("RELIANCE", "NSE:RELIANCE-EQ"),
    ("bajaj-auto", "NSE:BAJAJ-AUTO-EQ"),
    ("M&M", "NSE:M&M-EQ"),
])
def test_file_names_map_to_symbols(stem, symbol):
    assert symbol_from_filename(stem) == symbol


def test_csv_folder_is_read_by_symbol(scenario_dir):
    histories = load_csv_dir(scenario_dir)
    assert sorted(histories) == ["NSE:AAA-EQ", "NSE:BBB-EQ", "NSE:CCC-EQ"]
    assert histories["NSE:CCC-EQ"].closes == scenario_closes()["CCC"]
    assert histories["NSE:AAA-EQ"].dates == DATES


def test_csv_without_close_names_the_file(tmp_path):
    (tmp_path / "AAA.csv").write_text("date,open\n2024-01-01,1\n")
    with pytest.raises(DataError, match="AAA.csv: missing column"):
        load_csv_dir(tmp_path)


def test_store_cache_is_the_default_source(config, store):
    store.upsert_candles("NSE:SBIN-EQ", [
        {"date": day, "open": 1.0, "high": 1.0, "low": 1.0, "close": float(n), "volume": 10}
        for n, day in enumerate(DATES)])
    histories = load_histories(config, csv_dir=None, fetch=False, since=date(2024, 1, 3),
                               until=date(2024, 2, 9))
    assert list(histories) == ["NSE:SBIN-EQ"]
    assert histories["NSE:SBIN-EQ"].closes == [float(n) for n in range(2, 30)]


def test_cache_gaps_before_between_and_after():
    cached = [{"date": "2024-01-10"}, {"date": "2024-01-15"}]
    assert missing_ranges(cached, date(2024, 1, 1), date(2024, 1, 31)) == [
        (date(2024, 1, 1), date(2024, 1, 9)), (date(2024, 1, 16), date(2024, 1, 31))]
    assert missing_ranges(cached, date(2024, 1, 5), date(2024, 1, 15)) == []
    # a backtest's old candles and the runs' latest weeks, nothing between: the middle is fetched
    split = [{"date": "2026-01-05"}, {"date": "2026-01-06"}, {"date": "2026-09-01"},
             {"date": "2026-09-30"}]
    assert missing_ranges(split, date(2026, 1, 2), date(2026, 4, 30)) == [
        (date(2026, 1, 7), date(2026, 4, 30))]
    assert missing_ranges(split, date(2026, 1, 2), date(2026, 12, 31)) == [
        (date(2026, 1, 7), date(2026, 8, 31)), (date(2026, 9, 2), date(2026, 9, 29)),
        (date(2026, 10, 1), date(2026, 12, 31))]
    assert missing_ranges([], date(2024, 1, 5), date(2024, 1, 20)) == [
        (date(2024, 1, 5), date(2024, 1, 20))]


def test_history_calls_span_at_most_366_days():
    spans = chunks(date(2016, 1, 1), date(2018, 12, 31))
    assert spans[0] == (date(2016, 1, 1), date(2016, 12, 31))
    assert spans[-1][1] == date(2018, 12, 31)
    assert all((end - start).days < 366 for start, end in spans)
    assert all(later[0] - earlier[1] == timedelta(days=1)
               for earlier, later in zip(spans, spans[1:], strict=False))


def test_csv_with_a_bad_close_names_the_file_and_the_date(tmp_path):
    (tmp_path / "AAA.csv").write_text("date,close\n2024-01-01,1\n2024-01-02,abc\n")
    with pytest.raises(DataError, match="^AAA.csv: unreadable close 'abc' on 2024-01-02, "
                                        "expected a number$"):
        load_csv_dir(tmp_path)


def test_csv_rows_without_a_close_are_left_out(tmp_path):
    (tmp_path / "AAA.csv").write_text("date,close\n2024-01-01,1\n2024-01-02,\n2024-01-03,3\n")
    assert load_csv_dir(tmp_path)["NSE:AAA-EQ"].closes == [1.0, 3.0]


def test_a_cache_starting_late_is_pointed_out(config, store, caplog):
    store.upsert_candles("NSE:SBIN-EQ", [
        {"date": day, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 10}
        for day in DATES])
    load_histories(config, csv_dir=None, fetch=False, since=date(2023, 6, 1),
                   until=date(2024, 2, 9))
    assert "the candle cache starts on 2024-01-01: run with --fyers" in caplog.text


def test_csv_files_from_spreadsheets_and_brokers_read_alike(tmp_path):
    (tmp_path / "PLAIN.csv").write_text("date,open,high,low,close,volume\n"
                                        "2024-01-01,1,1,1,10.5,7\n2024-01-02,1,1,1,11,7\n")
    (tmp_path / "CRLF.csv").write_bytes(b"\xef\xbb\xbfDate,Close\r\n2024-01-01,10.5\r\n"
                                        b"2024-01-02,11\r\n")
    (tmp_path / "QUOTED.csv").write_text('"close","date"\n"10.5","2024-01-01"\n'
                                         '"11","2024-01-02"\n')
    (tmp_path / "TIMED.csv").write_text("date,close\n2024-01-01 00:00:00+05:30,10.5\n"
                                        "2024-01-02 00:00:00+05:30,11\n\n")
    (tmp_path / "UNSORTED.csv").write_text("date,close\n2024-01-02,99\n2024-01-01,10.5\n"
                                           "2024-01-02,11\n")
    (tmp_path / "LATIN1.csv").write_bytes("date,name,close\n2024-01-01,Société,10.5\n"
                                          "2024-01-02,Société,11\n".encode("latin-1"))
    histories = load_csv_dir(tmp_path)
    assert len(histories) == 6
    for history in histories.values():
        assert (history.dates, history.closes) == (["2024-01-01", "2024-01-02"], [10.5, 11.0])


@pytest.mark.parametrize(("text", "error"), [
    ("date,close\n2024-01-01,1\n2024-02-30,2\n", "AAA.csv: unreadable date '2024-02-30'"),
    ("date,close\n01/02/2024,1\n", "AAA.csv: unreadable date '01/02/2024'"),
    ("date,close\n2024-01-01,1\n2024-01-02,0\n", "AAA.csv: every close must be a positive "
                                                 "number; the close of 2024-01-02 is 0"),
    ("date,close\n2024-01-01,nan\n2024-01-02,-1\n", "AAA.csv: every close must be a positive "
                                                   "number; the close of 2024-01-01 is nan"),
    ("", "AAA.csv: the file is empty; expected the header date,open,high,low,close,volume"),
    ("\n", "AAA.csv: the file is empty"),
    ("date,open,close\n2024-01-01,1\n2024-01-02,1,2,3\n", "AAA.csv: a row has fewer fields"),
])
def test_malformed_csv_names_the_file_and_the_problem(tmp_path, text, error):
    (tmp_path / "AAA.csv").write_text(text)
    with pytest.raises(DataError, match=error):
        load_csv_dir(tmp_path)


def test_a_bad_cached_close_names_the_symbol(config, store):
    store.upsert_candles("NSE:SBIN-EQ", [
        {"date": day, "open": 1.0, "high": 1.0, "low": 1.0, "close": 0.0 if n == 3 else 1.0,
         "volume": 10} for n, day in enumerate(DATES)])
    with pytest.raises(DataError, match="NSE:SBIN-EQ's cached candles: every close must be a "
                                        "positive number; the close of 2024-01-04 is 0"):
        load_histories(config, csv_dir=None, fetch=False, since=date(2024, 1, 1),
                       until=date(2024, 2, 9))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_csv_is_said_to_be_no_utf8(tmp_path, encoding):
    (tmp_path / "AAA.csv").write_bytes("date,close\n2024-01-01,1\n".encode(encoding))
    with pytest.raises(DataError, match=r"^AAA.csv: not UTF-8 text \(NUL bytes, as in UTF-16\)"):
        load_csv_dir(tmp_path)


def test_a_folder_that_is_not_there_or_is_a_file_is_said_so(tmp_path):
    with pytest.raises(DataError, match=f"^the folder {tmp_path}/none does not exist$"):
        load_csv_dir(tmp_path / "none")
    (tmp_path / "AAA.csv").write_text("date,close\n")
    with pytest.raises(DataError, match=f"^{tmp_path}/AAA.csv is a file, not a folder"):
        load_csv_dir(tmp_path / "AAA.csv")


def test_a_csv_that_cannot_be_read_names_the_file(tmp_path):
    (tmp_path / "AAA.csv").mkdir()  # a folder where a file should be
    with pytest.raises(DataError, match="AAA.csv: cannot be read"):
        load_csv_dir(tmp_path)


def test_a_csv_extension_in_capitals_is_read(scenario_dir, config, tmp_path):
    (scenario_dir / "AAA.csv").rename(scenario_dir / "AAA.CSV")
    out = tmp_path / "run"
    assert backtest.main(["--csv", str(scenario_dir), *SCENARIO_ARGS, "--out", str(out)],
                         config) == 0
    assert (out / "trades.csv").read_text().count(",NSE:AAA-EQ,") == 3


@pytest.mark.parametrize("names", [
    ("NSE_AAA-EQ.CSV", "NSE_AAA-EQ.csv"), ("AAA.csv", "NSE_AAA-EQ.csv"), ("AAA.csv", "aaa.csv"),
    ("NSE:AAA-EQ.csv", "NSE_AAA-EQ.csv"),
])
def test_two_files_of_one_symbol_stop_the_run_naming_both(scenario_dir, config, capsys, names):
    first, second = names
    (scenario_dir / "AAA.csv").rename(scenario_dir / first)
    shutil.copy(scenario_dir / first, scenario_dir / second)
    assert backtest.main(["--csv", str(scenario_dir), *SCENARIO_ARGS], config) == 1
    assert capsys.readouterr().err == (f"backtest: {first} and {second} are both read as "
                                       f"NSE:AAA-EQ; keep one\n")


def test_the_parsed_candle_cache_notices_a_file_added_or_changed_in_either_case(scenario_dir,
                                                                                tmp_path):
    cache = tmp_path / "candle-cache"
    first, from_cache = load_csv_dir_cached(scenario_dir, cache)
    assert not from_cache and load_csv_dir_cached(scenario_dir, cache) == (first, True)
    shutil.copy(scenario_dir / "AAA.csv", scenario_dir / "NSE_DDD-EQ.CSV")
    added, from_cache = load_csv_dir_cached(scenario_dir, cache)
    assert not from_cache and added["NSE:DDD-EQ"].closes == first["NSE:AAA-EQ"].closes
    (scenario_dir / "NSE_DDD-EQ.CSV").write_text("date,close\n2024-01-01,1\n")
    changed, from_cache = load_csv_dir_cached(scenario_dir, cache)
    assert not from_cache and changed["NSE:DDD-EQ"].closes == [1.0]
    # The same size and the old modification time put back (touch -r): still noticed.
    edited = scenario_dir / "NSE_DDD-EQ.CSV"
    before = edited.stat()
    time.sleep(0.01)
    edited.write_text("date,close\n2024-01-01,2\n")
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))
    same_looking, from_cache = load_csv_dir_cached(scenario_dir, cache)
    assert not from_cache and same_looking["NSE:DDD-EQ"].closes == [2.0]
