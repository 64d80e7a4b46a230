"""A run records its steps on its record as it goes: the run page's checklist."""
from __future__ import annotations

from executor import run_once
from portfolio import inr, ticker
from run_steps import FAILED, NOT_REACHED, RunSteps, shown_steps
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
    assert states(store.get_run(run["run_id"])) == [
        ("Fyers login", FAILED), ("Prices and holdings", NOT_REACHED),
        ("Decisions", NOT_REACHED), ("Orders", NOT_REACHED), ("Fills", NOT_REACHED)]


def test_a_dry_run_says_it_placed_nothing(run_config, store, logged_in):
    run = run_once(run_config, trigger="manual", dry_run=True, force=True,
                   broker_factory=fast_broker)
    details = {step.label: step.detail for step in shown_steps(store.get_run(run["run_id"]))}
    assert details["Orders"] == details["Fills"] == "dry run: nothing was placed"


def test_steps_written_after_the_run_ended_are_ignored(store):
    store.create_run({"run_id": "r1", "trigger": "manual", "status": "running",
                      "started_at": 1.0, "dry_run": False})
    steps = RunSteps(store, "r1")
    steps.begin("login", "checking the Fyers login")
    final = steps.end(failed=True)
    steps.done("login", "a worker left behind at the deadline")
    assert [(s["name"], s["state"]) for s in final] == [("login", FAILED)]
    [stored] = store.get_run("r1")["steps"]  # the executor writes `final` with the run's end
    assert (stored["state"], stored["detail"]) == ("running", "checking the Fyers login")
