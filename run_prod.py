"""Serve the web app with waitress: `python run_prod.py [--host H] [--port P] [--first-run]`."""
from __future__ import annotations

import argparse
import logging
import sys

from waitress import serve

from app import create_app
from config import load_config_or_exit
from store import StoreError
from store.log_handler import redact
from users import ensure_admin
from views import get_store

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    """Build the app from the environment and serve it until interrupted."""
    parser = argparse.ArgumentParser(prog="python run_prod.py", description=__doc__)
    parser.add_argument("--host", default="0.0.0.0", help="interface to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on")
    parser.add_argument("--first-run", action="store_true",
                        help="create user admin with a random password when there are no users")
    parser.add_argument("--threads", type=int, default=8, help="waitress worker threads")
    args = parser.parse_args(argv)
    try:
        app = create_app(load_config_or_exit())
    except StoreError as exc:
        print(f"error: the store cannot be used: {redact(str(exc))}", file=sys.stderr)
        return 1
    shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    url = f"http://{shown_host}:{args.port}/"
    if args.first_run:
        with app.app_context():
            password = ensure_admin(get_store())
        if password:
            print(f"\n  Admin login: admin / {password}\n  (shown once: change it with "
                  f"`flask --app app users passwd admin`)\n", flush=True)
    print(f"Nifty Shop is serving on {url}", flush=True)
    logger.info("serving on %s", url)
    serve(app, host=args.host, port=args.port, threads=args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
