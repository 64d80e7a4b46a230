"""CLI: `python -m fyers_sandbox [--host H] [--port 8765] [--seed N] [--state FILE] [--demo]
[--no-market-hours] [--start ISO] [--allow-refresh] [--allowed-ips IP,...] [--rate-limits
10/1,200/60]`, served by waitress. Prints one line with the URL
once it listens. Without --demo it behaves as Fyers does since April 2026."""
from __future__ import annotations

import argparse
import ipaddress
import logging
import sqlite3
import sys
from datetime import datetime

import waitress

from fyers_sandbox.app import create_app
from fyers_sandbox.core import FYERS_RATE_LIMITS, SandboxOptions
from fyers_sandbox.market import HISTORY_END, HISTORY_START

PROG = "python -m fyers_sandbox"


def parse_port(raw: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a port from 0 to 65535")
    return port


def parse_start(raw: str) -> str:
    """An ISO date and time within the simulated years, e.g. 2026-11-25T11:00."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an ISO date and time, e.g. "
                                         f"2026-11-25T11:00") from None
    if not HISTORY_START <= moment.date() < HISTORY_END:
        raise argparse.ArgumentTypeError(f"{raw!r} is outside the simulated years "
                                         f"({HISTORY_START} to {HISTORY_END})")
    return raw


def parse_limits(raw: str) -> tuple[tuple[int, int], ...]:
    """'10/1,200/60' → ((10, 1), (200, 60)): requests per window of seconds."""
    try:
        pairs = [part.split("/") for part in raw.split(",")]
        return tuple((int(count), int(seconds)) for count, seconds in pairs)
    except ValueError:
        raise argparse.ArgumentTypeError("expected COUNT/SECONDS[,COUNT/SECONDS...]") from None


def parse_ips(raw: str) -> tuple[str, ...]:
    """'203.0.113.7,127.0.0.1' → ('203.0.113.7', '127.0.0.1'), each a valid IP address."""
    try:
        return tuple(str(ipaddress.ip_address(part.strip())) for part in raw.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=parse_port, default=8765,
                        help="port (0 picks a free one)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the simulated market")
    parser.add_argument("--state", metavar="FILE", help="SQLite file keeping state across restarts")
    parser.add_argument("--market-hours", action=argparse.BooleanOptionalAction, default=True,
                        help="refuse orders with offlineOrder false outside NSE hours and on "
                        "holidays, as Fyers does (default; --no-market-hours turns it off)")
    parser.add_argument("--start", metavar="ISO", type=parse_start,
                        help="initial clock (naive means IST)")
    parser.add_argument("--rate-limits", type=parse_limits, default=FYERS_RATE_LIMITS,
                        metavar="N/S,...", help="per-app limits (default 10/1,200/60)")
    parser.add_argument("--demo", action="store_true",
                        help="fill market orders at once at any hour and allow refresh")
    parser.add_argument("--allow-refresh", action="store_true",
                        help="accept validate-refresh-token, as Fyers did before April 2026")
    parser.add_argument("--allowed-ips", type=parse_ips, default=(), metavar="IP,...",
                        help="the app's static IPs: orders from any other client are refused")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = SandboxOptions(seed=args.seed, state_file=args.state, market_hours=args.market_hours,
                             rate_limits=args.rate_limits, start=args.start, demo=args.demo,
                             allow_refresh=args.allow_refresh, allowed_ips=args.allowed_ips)
    try:
        app = create_app(options)
    except (sqlite3.Error, OSError) as exc:  # not a SQLite file, a folder, read-only
        print(f"{PROG}: cannot use the state file {args.state}: {exc}", file=sys.stderr)
        return 2
    try:
        server = waitress.create_server(app, host=args.host, port=args.port, threads=8)
    except (OSError, ValueError) as exc:  # port taken, unknown host
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        print(f"{PROG}: cannot listen on {args.host}:{args.port}: {reason}", file=sys.stderr)
        return 1
    print(f"fyers sandbox listening on http://{args.host}:{server.effective_port}", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
