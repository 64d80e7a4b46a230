"""The web process stays small: serving every page loads neither pandas nor numpy (~50 MB of
resident memory that waitress would carry for its whole life)."""
from __future__ import annotations

import subprocess
import sys

from config import PROJECT_DIR

SERVE_EVERY_PAGE = """
import sys, tempfile
from cryptography.fernet import Fernet
from werkzeug.security import generate_password_hash
from app import create_app
from auth import SESSION_COOKIE, start_session
from config import Config

with tempfile.TemporaryDirectory() as folder:
    app = create_app(Config.from_mapping({
        "DATABASE_URL": f"sqlite:///{folder}/app.db", "SECRET_KEY": "memory-test-key",
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(), "FYERS_MODE": "sandbox"}))
    store = app.extensions["store"]
    store.create_user("alice", generate_password_hash("pw"))
    client = app.test_client()
    with app.app_context():
        client.set_cookie(SESSION_COOKIE, start_session(store, "alice"))
    for page in ("/", "/trading", "/strategy", "/tokens", "/logs", "/backtests", "/account"):
        assert client.get(page).status_code == 200, page
    print(",".join(sorted({"pandas", "numpy", "exchange_calendars"} & set(sys.modules))))
"""


def test_serving_every_page_loads_neither_pandas_nor_numpy():
    served = subprocess.run([sys.executable, "-c", SERVE_EVERY_PAGE], cwd=PROJECT_DIR,
                            capture_output=True, text=True, timeout=120)
    assert served.returncode == 0, served.stderr[-2000:]
    assert served.stdout.strip().splitlines()[-1:] in ([], [""])
