"""Log retention: log rows older than LOG_RETENTION_DAYS are removed, oldest first, in small
batches with a pause between them, so a run or a page never waits behind the cleanup.

CLI: `python retention.py` (the GitHub workflow's morning job); the in-process scheduler calls
`purge_old_logs` daily. Trades, orders and runs are never removed.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

import cli
from config import Config, load_config_or_exit
from redaction import redact
from store import Store, StoreError
from store.log_handler import logged_store

logger = logging.getLogger(__name__)

BATCH_ROWS = 500
PAUSE_S = 0.2  # between batches: the run and the log writer get the store in between
DAY_S = 24 * 3600


def purge_old_logs(config: Config, store: Store, *, now: float | None = None,
                   batch_rows: int = BATCH_ROWS, pause_s: float = PAUSE_S) -> int:
    """Remove the log rows older than LOG_RETENTION_DAYS; returns how many went."""
    cutoff = (time.time() if now is None else now) - config.log_retention_days * DAY_S
    removed = 0
    while True:
        batch = store.delete_logs_before(cutoff, batch_rows)
        removed += batch
        if batch < batch_rows:
            break
        time.sleep(pause_s)
    if removed:
        logger.info("retention: removed %d log rows older than %d days", removed,
                    config.log_retention_days)
    return removed


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: 0 when done, 1 with one line when the store cannot be used."""
    cli.OneLineParser(prog="python retention.py", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    config = load_config_or_exit()
    try:
        with logged_store(config) as store:
            removed = purge_old_logs(config, store)
    except StoreError as exc:
        print(f"retention: the store cannot be used: {redact(str(exc))}", file=sys.stderr)
        return 1
    print(f"removed {removed} log rows older than {config.log_retention_days} days")
    return 0


if __name__ == "__main__":
    cli.run(main)
