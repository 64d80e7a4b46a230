""""Run strategy now": a double submit starts exactly one background run."""
from __future__ import annotations

import time

import pytest

WAIT_FOR_CHILD_S = 120


@pytest.fixture
def child_env(monkeypatch, config):
    """The detached executor reads its Config from the environment: point it at this test's
    store and at a sandbox URL where nothing listens, so the run ends quickly on its own."""
    for key in ("database_url", "secret_key", "token_encryption_key", "fyers_mode"):
        monkeypatch.setenv(key.upper(), getattr(config, key))
    monkeypatch.setenv("FYERS_SANDBOX_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SCHEDULER_ENABLED", "false")


def wait_until_finished(db, run_id: str) -> dict:
    """Let the detached child finish before the temporary store goes away."""
    deadline = time.monotonic() + WAIT_FOR_CHILD_S
    while (run := db.get_run(run_id))["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    return run


def test_double_submit_starts_one_run(child_env, logged_in, client, db):
    token = logged_in.csrf_token("/strategy")
    first = client.post("/strategy/run", data={"csrf_token": token})
    second = client.post("/strategy/run", data={"csrf_token": token})
    assert first.status_code == second.status_code == 302
    runs = db.list_runs()
    assert len(runs) == 1 and runs[0]["trigger"] == "manual"
    page = client.get("/strategy").get_data(as_text=True)
    assert "already running" in page
    wait_until_finished(db, runs[0]["run_id"])
    assert len(db.list_runs()) == 1
