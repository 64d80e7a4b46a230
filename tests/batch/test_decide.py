"""decide(): the strategy's rules on plain data, as the live run and the backtest rely on them."""
from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from config import Config
from strategy_rules import NOTHING_USED, BookEntry, DayUse, Intent, StrategyParams, decide

PARAMS = StrategyParams(ma_period=5, entry_threshold_pct=2.0, exit_threshold_pct=6.28,
                        averaging_threshold_pct=3.14, entry_candidates=3,
                        max_trade_value=10000.0, max_new_entries_per_run=1)
FLAT = [100.0] * 5  # MA 100 over 5 closes


def held(symbol: str, qty: int = 10, avg: float = 100.0, last: float | None = None) -> BookEntry:
    return BookEntry(symbol, qty, avg, avg if last is None else last)


def test_params_come_from_config():
    params = Config.from_mapping({"MA_PERIOD": "30"}).strategy_params()
    assert params.ma_period == 30 and params.exit_threshold_pct == 6.28
    assert params.max_new_entries_per_run == 1 and params.max_new_entries_per_day == 1


def test_no_history_and_short_history_are_skipped():
    closes = {"A": [], "B": [100.0] * 4}
    assert decide(closes, {"A": 50.0, "B": 50.0}, {}, PARAMS) == []


def test_buys_the_symbol_furthest_below_its_ma():
    closes = {"A": FLAT, "B": FLAT, "C": FLAT}
    intents = decide(closes, {"A": 97.0, "B": 90.0, "C": 101.0}, {}, PARAMS)
    assert intents == [Intent("B", "BUY", 111, "entry", 90.0, "10.00% below 5-day MA")]


def test_entry_threshold_exactly_met_buys():
    assert [i.symbol for i in decide({"A": FLAT}, {"A": 98.0}, {}, PARAMS)] == ["A"]
    assert decide({"A": FLAT}, {"A": 98.01}, {}, PARAMS) == []


def test_ma_uses_only_the_last_period_closes():
    closes = {"A": [1000.0] * 10 + FLAT}
    assert [i.symbol for i in decide(closes, {"A": 97.0}, {}, PARAMS)] == ["A"]


def test_ties_are_broken_by_symbol():
    closes = {"B": FLAT, "A": FLAT}
    assert decide(closes, {"A": 90.0, "B": 90.0}, {}, PARAMS)[0].symbol == "A"


def test_held_and_unaffordable_candidates_are_passed_over():
    closes = {"A": FLAT, "B": [20000.0] * 5, "C": FLAT}
    ltps = {"A": 80.0, "B": 15000.0, "C": 95.0}  # B: one share costs more than a trade
    intents = decide(closes, ltps, {"A": held("A", avg=80.0)}, PARAMS)
    assert [(i.symbol, i.reason) for i in intents] == [("C", "entry")]


def test_only_the_first_entry_candidates_are_considered():
    closes = {s: FLAT for s in "ABCD"}
    ltps = {"A": 80.0, "B": 81.0, "C": 82.0, "D": 83.0}
    book = {s: held(s, avg=ltps[s]) for s in "ABC"}
    assert [i.reason for i in decide(closes, ltps, book, PARAMS)] == []


def test_exit_threshold_exactly_met_sells_whole_holding():
    intents = decide({}, {"A": 106.28}, {"A": held("A", qty=7)}, PARAMS)
    assert [(i.symbol, i.side, i.qty, i.reason) for i in intents] == [("A", "SELL", 7, "exit")]
    assert decide({}, {"A": 106.27}, {"A": held("A")}, PARAMS) == []


def test_exits_come_before_entries_and_a_sold_symbol_is_not_bought_back():
    closes = {"A": [200.0] * 5, "B": FLAT}
    intents = decide(closes, {"A": 110.0, "B": 95.0}, {"A": held("A")}, PARAMS)
    assert [(i.symbol, i.side) for i in intents] == [("A", "SELL"), ("B", "BUY")]


def test_average_down_only_when_strictly_past_threshold():
    book = {"A": held("A", avg=100.0, last=100.0)}
    assert decide({}, {"A": 96.86}, book, PARAMS) == []  # exactly 3.14 % down
    intents = decide({}, {"A": 96.0}, book, PARAMS)
    assert [(i.symbol, i.qty, i.reason) for i in intents] == [("A", 104, "average")]


def test_average_down_picks_the_furthest_below_last_buy_and_only_one():
    book = {"A": held("A", avg=100.0), "B": held("B", avg=200.0)}
    intents = decide({}, {"A": 90.0, "B": 170.0}, book, PARAMS)
    assert [(i.symbol, i.reason) for i in intents] == [("B", "average")]


def test_no_average_down_when_an_entry_was_made():
    closes = {"C": FLAT}
    book = {"A": held("A", last=100.0)}
    intents = decide(closes, {"A": 80.0, "C": 90.0}, book, PARAMS)
    assert [(i.symbol, i.reason) for i in intents] == [("C", "entry")]


def test_average_down_skips_a_holding_too_dear_for_one_share():
    book = {"A": held("A", avg=20000.0, last=20000.0)}
    assert decide({}, {"A": 15000.0}, book, PARAMS) == []


# --- the trading day: caps over all its runs, and the rebuy cooldown ------------------------
TWO_A_RUN_THREE_A_DAY = StrategyParams(**{**vars(PARAMS), "max_new_entries_per_run": 2,
                                          "max_new_entries_per_day": 3})
THREE_BELOW = ({"A": FLAT, "B": FLAT, "C": FLAT}, {"A": 97.0, "B": 90.0, "C": 95.0})


def test_entries_stop_at_what_is_left_of_the_days_budget():
    closes, ltps = THREE_BELOW
    fresh = decide(closes, ltps, {}, TWO_A_RUN_THREE_A_DAY)
    assert [i.symbol for i in fresh] == ["B", "C"]  # the run's cap
    one_left = decide(closes, ltps, {}, TWO_A_RUN_THREE_A_DAY, DayUse(entries=2))
    assert [i.symbol for i in one_left] == ["B"]
    assert decide(closes, ltps, {}, TWO_A_RUN_THREE_A_DAY, DayUse(entries=3)) == []
    assert DayUse(entries=3).entry_budget_spent(TWO_A_RUN_THREE_A_DAY)
    assert not DayUse(entries=2).entry_budget_spent(TWO_A_RUN_THREE_A_DAY)


def test_a_spent_entry_budget_still_lets_a_holding_average_down():
    closes, ltps = THREE_BELOW
    book = {"D": held("D", avg=100.0)}
    intents = decide(closes, {**ltps, "D": 96.0}, book, PARAMS, DayUse(entries=1))
    assert [(i.symbol, i.reason) for i in intents] == [("D", "average")]


def test_a_symbol_averaged_today_is_not_averaged_again_that_day():
    book = {"A": held("A", last=100.0), "B": held("B", last=100.0)}
    ltps = {"A": 90.0, "B": 96.0}  # A is furthest down
    assert [i.symbol for i in decide({}, ltps, book, PARAMS)] == ["A"]
    again = decide({}, ltps, book, PARAMS, DayUse(averaged=frozenset({"A"})))
    assert [(i.symbol, i.reason) for i in again] == [("B", "average")]


def test_a_symbol_sold_by_hand_is_neither_bought_back_nor_averaged():
    closes, ltps = THREE_BELOW
    cooling = DayUse(cooling_down=frozenset({"B", "D"}))
    assert [i.symbol for i in decide(closes, ltps, {}, PARAMS, cooling)] == ["C"]
    book = {"D": held("D", qty=3, last=100.0)}  # partly sold by hand
    assert decide({}, {"D": 90.0}, book, PARAMS, cooling) == []


# --- properties --------------------------------------------------------------------------
SYMBOLS = [f"S{i}" for i in range(8)]
prices = st.floats(min_value=1.0, max_value=30000.0, allow_nan=False)
params_st = st.builds(
    StrategyParams, ma_period=st.integers(1, 6),
    entry_threshold_pct=st.floats(0, 10), exit_threshold_pct=st.floats(0.1, 10),
    averaging_threshold_pct=st.floats(0.1, 10), entry_candidates=st.integers(1, 5),
    max_trade_value=st.floats(500, 20000), max_new_entries_per_run=st.integers(1, 3),
    max_new_entries_per_day=st.integers(1, 4))
day_uses = st.builds(DayUse, entries=st.integers(0, 4),
                     averaged=st.frozensets(st.sampled_from(SYMBOLS)),
                     cooling_down=st.frozensets(st.sampled_from(SYMBOLS)))
markets = st.fixed_dictionaries({
    "closes": st.dictionaries(st.sampled_from(SYMBOLS), st.lists(prices, max_size=8)),
    "ltps": st.dictionaries(st.sampled_from(SYMBOLS), prices),
    "book": st.dictionaries(st.sampled_from(SYMBOLS), st.tuples(st.integers(1, 50), prices, prices)),
})


def _decide(market: dict, params: StrategyParams, day: DayUse = NOTHING_USED
            ) -> tuple[list[Intent], dict[str, BookEntry]]:
    book = {s: BookEntry(s, q, a, last) for s, (q, a, last) in market["book"].items()}
    return decide(market["closes"], market["ltps"], book, params, day), book


@settings(max_examples=300, deadline=None)
@given(markets, params_st, day_uses)
def test_intents_obey_the_rules(market, params, day):
    intents, book = _decide(market, params, day)
    sides = [i.side for i in intents]
    assert sides == sorted(sides, key=lambda side: side == "BUY")  # exits first
    sold = {i.symbol for i in intents if i.side == "SELL"}
    entries = [i for i in intents if i.reason == "entry"]
    averages = [i for i in intents if i.reason == "average"]
    assert len(entries) <= params.max_new_entries_per_run
    assert day.entries + len(entries) <= max(day.entries, params.max_new_entries_per_day)
    assert len(averages) <= 1 and not (entries and averages)
    assert not {i.symbol for i in averages} & day.averaged
    assert not {i.symbol for i in intents if i.side == "BUY"} & day.cooling_down
    for intent in intents:
        assert intent.qty >= 1 and intent.price == market["ltps"][intent.symbol]
        if intent.side == "SELL":
            assert intent.reason == "exit" and intent.qty == book[intent.symbol].qty
        else:
            assert intent.symbol not in sold
            assert intent.qty == math.floor(params.max_trade_value / intent.price)
    for intent in entries:
        assert intent.symbol not in book
        assert len(market["closes"][intent.symbol]) >= params.ma_period
    for intent in averages:
        assert intent.symbol in book


@settings(max_examples=300, deadline=None)
@given(markets, params_st, day_uses)
def test_a_run_never_spends_more_than_the_run_now_confirmation_says(market, params, day):
    intents, book = _decide(market, params, day)
    buys = [intent for intent in intents if intent.side == "BUY"]
    most = day.most_buys(params, book)
    assert len(buys) <= most
    assert sum(i.qty * i.price for i in buys) <= most * params.max_trade_value * (1 + 1e-9)


@settings(max_examples=150, deadline=None)
@given(markets, params_st)
def test_decision_does_not_depend_on_input_order(market, params):
    reversed_market = {key: dict(reversed(list(value.items()))) for key, value in market.items()}
    assert _decide(market, params)[0] == _decide(reversed_market, params)[0]
