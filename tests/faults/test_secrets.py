"""After runs that refresh the token, hit rate limits and fail for a refused login, no page of
the app, no CLI output and no stored log row shows a token, key, app secret, PIN or password
(the store and SDK logs are checked by the suite's autouse fixture)."""
from __future__ import annotations

from collections.abc import Iterator

from messages import LOGIN_NEEDED
from tests.batch.helpers import run_cli
from tests.faults.helpers import DONE, fault_when, leaked, run, stored_secrets
from tests.web.conftest import AuthActions

WRONG_PASSWORD = "tr0ub4dor-and-3"
CLI_CALLS = (("executor.py", "--force"), ("token_refresh.py", "status"),
             ("token_refresh.py", "refresh"), ("verify_db.py", "--collection", "fyers_tokens"),
             ("verify_db.py", "--collection", "logs", "--limit", "1000"),
             ("verify_db.py", "--collection", "runs", "--json"))


def every_page(app, client, run_ids: list[str]) -> Iterator[tuple[str, str]]:
    """(url, body and redirect target) of every GET page of the app, each run's page
    included (backtest pages are left out: none is saved here)."""
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in ("static", "tokens_callback"):
            continue
        if rule.endpoint == "strategy.run_detail":
            urls = [f"/strategy/runs/{run_id}" for run_id in run_ids]
        elif rule.arguments:
            continue
        else:
            urls = [rule.rule]
        for url in urls:
            response = client.get(url)
            assert response.status_code < 500, url
            yield url, response.get_data(as_text=True) + response.headers.get("Location", "")


def test_no_page_or_cli_output_shows_a_secret(make_app, run_config, store, sandbox, logged_in):
    app = make_app(run_config.with_overrides(logs_page_size=1000))  # logs into the store
    sandbox.admin("faults", expire_tokens=True)  # the run refreshes with the PIN and app secret
    with fault_when(sandbox, "/history", 5, http_429_next=2):
        assert run(run_config)["status"] in DONE
    sandbox.admin("faults", expire_tokens=True)
    sandbox.admin("tokens", allow_refresh=False)
    outputs = [(" ".join(call), run_cli(run_config, *call)) for call in CLI_CALLS]
    assert LOGIN_NEEDED.sentence in outputs[0][1].stdout

    client = app.test_client()
    assert AuthActions(client).login(password=WRONG_PASSWORD).status_code == 401
    assert AuthActions(client).login().status_code == 302
    run_ids = [r["run_id"] for r in store.list_runs()]
    seen = [*every_page(app, client, run_ids),
            *((name, done.stdout + done.stderr) for name, done in outputs)]

    secrets = {**stored_secrets(run_config), "wrong password": WRONG_PASSWORD}
    assert {"access_token", "refresh_token"} <= secrets.keys()
    assert len(seen) >= 15 and any(url == "/tokens" for url, _ in seen)
    for where, text in seen:
        assert not leaked(text, secrets), f"{leaked(text, secrets)} shown by {where}"
