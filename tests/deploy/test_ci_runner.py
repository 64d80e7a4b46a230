"""On a CI runner (the GitHub Actions deployment) nothing may be kept where it vanishes: an
embedded store or a generated token key is refused before anything else, in one line."""
from __future__ import annotations

import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from config import PROJECT_DIR, Config, ConfigError

CLIS = [["executor.py", "--trigger", "scheduled"], ["verify_db.py"], ["token_refresh.py", "status"],
        ["notifier.py", "remind"], ["retention.py"], ["run_prod.py", "--port", "0"],
        ["backtest.py", "--from", "2024-01-01", "--to", "2024-02-01"],
        ["-m", "flask", "--app", "app", "users", "unlock", "admin"]]
RUNNERS = [{"GITHUB_ACTIONS": "true"}, {"CI": "true"}, {"CI": "1"}]


@pytest.mark.parametrize("runner", RUNNERS, ids=lambda runner: "=".join(*runner.items()))
def test_an_embedded_store_is_refused_before_anything_else(runner):
    with pytest.raises(ConfigError, match="^MONGO_URI is not set: on a CI runner"):
        Config.from_mapping({**runner, "MA_PERIOD": "abc", "MONGO_DB_NAME": ""})


def test_a_runner_without_the_token_key_is_refused():
    with pytest.raises(ConfigError, match="^TOKEN_ENCRYPTION_KEY is not set.*web host's key"):
        Config.from_mapping({"CI": "true", "MONGO_URI": "mongodb://db.example:27017"})


def test_a_runner_with_both_secrets_gets_the_default_database_name():
    config = Config.from_mapping({"GITHUB_ACTIONS": "true", "MONGO_URI": "mongodb://db:27017",
                                  "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
                                  "MONGO_DB_NAME": ""})
    assert (config.store_url, config.mongo_database) == ("mongodb://db:27017", "nifty_shop")


@pytest.mark.parametrize("value", ["", "false", "0"])
def test_ci_set_to_false_is_not_a_runner(value):
    assert Config.from_mapping({"CI": value}).store_url.startswith("sqlite:///")


@pytest.mark.parametrize("command", CLIS, ids=lambda command: command[0 if command[0] != "-m" else 1])
def test_every_cli_on_a_runner_without_mongo_says_so_in_one_line_and_writes_nothing(tmp_path,
                                                                                     command):
    data = tmp_path / "data"
    result = subprocess.run(
        [sys.executable, *command],
        env={"PATH": "/usr/bin:/bin", "GITHUB_ACTIONS": "true", "CI": "true",
             "DATABASE_URL": f"sqlite:///{data}/shop.db", "MONGO_DB_NAME": ""},
        capture_output=True, text=True, cwd=PROJECT_DIR, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("config error: MONGO_URI is not set")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not data.exists()


def test_a_runner_never_guesses_paper_or_real_money(config, store, monkeypatch):
    """A web host with STRATEGY_FROM_ENV saves no choice in the store: a runner reading it must
    not fall back to its own PAPER_TRADING default (real money) while the host shows paper."""
    import executor
    import paper_mode

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    run = executor.execute(config, store, trigger="scheduled", force=True)
    assert run["status"] == "failed" and run["book"] == "real"
    assert run["summary"].startswith("This runner does not know whether to trade on paper or "
                                     "with real money: start the web app once on this store")
    assert store.list_orders() == []
    paper_mode.save_first_run_default(config.with_overrides(paper_trading=True), store)
    run = executor.execute(config, store, trigger="scheduled", force=True)
    assert run["book"] == "paper" and "does not know" not in run["summary"]  # on to the login
    monkeypatch.delenv("GITHUB_ACTIONS")
    store.set_setting(paper_mode.STORE_KEY, None)
    run = executor.execute(config, store, trigger="scheduled", force=True)
    assert "does not know" not in run["summary"]  # a host is the web app's own machine
