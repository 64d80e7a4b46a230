"""A run records its steps on its record as it goes: the run page's checklist."""
from __future__ import annotations

from executor import run_once
from live_strategy import run_live
from messages import DEADLINE_PASSED, LOGIN_NEEDED
from order_outcomes import phrase
from portfolio import inr, ticker
from run_steps import FAILED, NOT_REACHED, SKIPPED, RunSteps, shown_steps
from tests.batch.helpers import fast_broker, run_trades


def states(run: dict) -> list[tuple[str, str]]:
    return [(step.label, step.state) for step in shown_steps(run)]


def test_a_run_that_buys_records_every_step_done(run_config, store, logged_in):
    run = run_once(run_config, trigger="manual", force=True, broker_factory=fast_broker)
    recorded = store.get_run(run["run_id"])
    assert states(recorded) == [("Fyers login", "done"), ("Prices and holdings", "done"),
                                ("Decisions", "done"), ("Orders", "done"), ("Fills", "done")]
    [trade] = run_trades(store, run["run_id"])
    bought = f"bought {trade['qty']} {ticker(trade['symbol'])} for " \
             f"{inr(trade['qty'] * trade['price'])}"
    details = {step.label: step.detail for step in shown_steps(recorded)}
    assert details["Fills"] == bought
    assert details["Decisions"].startswith(f"buy {trade['qty']} {ticker(trade['symbol'])} for ₹")
    assert details["Orders"] == "1 sent to Fyers"
    assert details["Prices and holdings"] == "50 prices read"


def test_a_run_without_a_login_fails_on_its_first_step(run_config, store, sandbox):
    run = run_once(run_config, trigger="manual", force=True, broker_factory=fast_broker)
    assert run["status"] == "failed"
    recorded = store.get_run(run["run_id"])
    assert states(recorded) == [
        ("Fyers login", FAILED), ("Prices and holdings", NOT_REACHED),
        ("Decisions", NOT_REACHED), ("Orders", NOT_REACHED), ("Fills", NOT_REACHED)]
    # what went wrong, in the summary's words, not "checking the Fyers login"
    assert shown_steps(recorded)[0].detail == LOGIN_NEEDED.what
    assert run["summary"] == LOGIN_NEEDED.sentence


def test_a_dry_run_says_it_placed_nothing(run_config, store, logged_in):
    run = run_once(run_config, trigger="manual", dry_run=True, force=True,
                   broker_factory=fast_broker)
    recorded = store.get_run(run["run_id"])
    details = {step.label: step.detail for step in shown_steps(recorded)}
    assert details["Orders"] == details["Fills"] == "dry run: nothing was placed"
    assert states(recorded)[3:] == [("Orders", SKIPPED), ("Fills", SKIPPED)]  # no ✓: not done


def test_steps_written_after_the_run_ended_are_ignored(store):
    store.create_run({"run_id": "r1", "trigger": "manual", "status": "running",
                      "started_at": 1.0, "dry_run": False})
    steps = RunSteps(store, "r1")
    steps.begin("login", "checking the Fyers login")
    final = steps.end(DEADLINE_PASSED)
    steps.done("login", "a worker left behind at the deadline")
    assert [(s["name"], s["state"], s["detail"]) for s in final] == [
        ("login", FAILED, DEADLINE_PASSED.what)]
    [stored] = store.get_run("r1")["steps"]  # the executor writes `final` with the run's end
    assert (stored["state"], stored["detail"]) == ("running", "checking the Fyers login")


def test_the_fills_step_and_the_orders_agree_while_a_run_places_two_buys(
        run_config, store, broker, monkeypatch):
    """Each step write, with the orders as the run page reads them at that moment: once the
    first buy filled, the Fills step says so (not "waiting for it to fill") while the second
    is placed, and that second order is "being placed", not left to the next run."""
    config = run_config.with_overrides(max_new_entries_per_run=2, max_new_entries_per_day=2)
    seen: list[tuple[dict[str, str], list[str]]] = []
    update_run = store.update_run

    def recording(run_id: str, **fields) -> None:
        if "steps" in fields:
            orders = sorted(store.list_orders(run_id="two"), key=lambda o: o["created_at"])
            seen.append(({step["name"]: step["detail"] for step in fields["steps"]},
                         [f"{o['side']} {o['qty']} {ticker(o['symbol'])}: "
                          f"{phrase(o, run_running=True)}" for o in orders]))
        update_run(run_id, **fields)

    monkeypatch.setattr(store, "update_run", recording)
    run_live(config, store, broker, run_id="two")
    first, second = sorted(store.list_orders(run_id="two"), key=lambda o: o["created_at"])
    named = [f"{o['side']} {o['qty']} {ticker(o['symbol'])}" for o in (first, second)]
    [(steps, orders)] = [(steps, orders) for steps, orders in seen
                         if steps.get("fills") == f"waiting for {named[1]} to fill"]
    assert orders == [f"{named[0]}: filled", f"{named[1]}: waiting at Fyers"]
    steps, orders = next((steps, orders) for steps, orders in seen
                         if steps.get("orders", "").startswith("placing 2 of 2"))
    assert steps["fills"] == f"{named[0]}: filled" and orders == [f"{named[0]}: filled"]
    assert seen[-1][0]["fills"].startswith(f"bought {first['qty']} {ticker(first['symbol'])}")
