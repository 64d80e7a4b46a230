"""SQLite schema, as ordered migrations: version N is MIGRATIONS[N-1]; never edit a released one.

Each migration is a tuple of statements run in one transaction with its schema_version bump.
"""
from __future__ import annotations

MIGRATIONS: list[tuple[str, ...]] = [
    (  # 1: every collection, its keys and the indexes its queries use
        """CREATE TABLE users (
            username TEXT PRIMARY KEY, password_hash TEXT NOT NULL, totp_secret TEXT,
            failed_logins INTEGER NOT NULL DEFAULT 0, locked_until REAL, created_at REAL)""",
        """CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, created_at REAL,
            last_seen REAL, expires_at REAL)""",
        "CREATE INDEX sessions_user ON sessions (username, created_at)",
        """CREATE TABLE fyers_tokens (
            client_id TEXT PRIMARY KEY, access_token TEXT, refresh_token TEXT,
            access_expires_at REAL, refresh_expires_at REAL, updated_at REAL)""",
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY, "trigger" TEXT, status TEXT, started_at REAL,
            finished_at REAL, summary TEXT, error TEXT, dry_run INTEGER)""",
        "CREATE INDEX runs_started ON runs (started_at)",
        """CREATE TABLE logs (
            id INTEGER PRIMARY KEY, ts REAL NOT NULL, level TEXT NOT NULL,
            levelno INTEGER NOT NULL, logger TEXT, message TEXT NOT NULL, run_id TEXT,
            extra TEXT)""",
        # An index on ts also holds the rowid, so (ts, id) keyset pages walk it directly.
        "CREATE INDEX logs_ts ON logs (ts)",
        "CREATE INDEX logs_level_ts ON logs (levelno, ts)",
        "CREATE INDEX logs_run_ts ON logs (run_id, ts)",
        """CREATE VIRTUAL TABLE logs_fts USING fts5 (
            message, content='logs', content_rowid='id', columnsize=0, prefix='2 3')""",
        """CREATE TRIGGER logs_fts_insert AFTER INSERT ON logs BEGIN
            INSERT INTO logs_fts (rowid, message) VALUES (new.id, new.message); END""",
        """CREATE TRIGGER logs_fts_delete AFTER DELETE ON logs BEGIN
            INSERT INTO logs_fts (logs_fts, rowid, message)
            VALUES ('delete', old.id, old.message); END""",
        """CREATE TRIGGER logs_fts_update AFTER UPDATE OF message ON logs BEGIN
            INSERT INTO logs_fts (logs_fts, rowid, message)
            VALUES ('delete', old.id, old.message);
            INSERT INTO logs_fts (rowid, message) VALUES (new.id, new.message); END""",
        """CREATE TABLE orders (
            tag TEXT PRIMARY KEY, run_id TEXT, symbol TEXT, side TEXT, qty INTEGER, reason TEXT,
            broker_order_id TEXT, status TEXT, filled_qty INTEGER, traded_price REAL,
            message TEXT, created_at REAL, updated_at REAL)""",
        "CREATE INDEX orders_created ON orders (created_at)",
        "CREATE INDEX orders_run ON orders (run_id)",
        """CREATE TABLE trades (
            trade_id TEXT PRIMARY KEY, run_id TEXT, order_tag TEXT, symbol TEXT NOT NULL,
            side TEXT NOT NULL, qty INTEGER NOT NULL, price REAL NOT NULL, ts REAL NOT NULL,
            pnl REAL, source TEXT)""",
        "CREATE INDEX trades_ts ON trades (ts)",
        "CREATE INDEX trades_symbol_ts ON trades (symbol, ts)",
        """CREATE TABLE positions (
            symbol TEXT PRIMARY KEY, qty INTEGER NOT NULL, avg_price REAL NOT NULL,
            last_buy_price REAL, opened_at REAL, updated_at REAL)""",
        """CREATE TABLE candles (
            symbol TEXT NOT NULL, date TEXT NOT NULL, open REAL, high REAL, low REAL,
            close REAL, volume REAL, PRIMARY KEY (symbol, date)) WITHOUT ROWID""",
        "CREATE TABLE locks (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL)",
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT)",
    ),
    (  # 2: a log id is its ts in microseconds x 1000 + a sequence number, so newest first is
       # rowid order (which FTS5 walks without sorting) and ts bounds are rowid bounds
        "DROP INDEX logs_ts",
        "DROP INDEX logs_level_ts",
        "DROP INDEX logs_run_ts",
        "UPDATE logs SET id = -id",
        """UPDATE logs SET id = keyed.new_id, ts = keyed.micros / 1000000.0
           FROM (SELECT id AS old_id, micros, micros * 1000 - 1 + row_number()
                        OVER (PARTITION BY micros ORDER BY id DESC) AS new_id
                 FROM (SELECT id, CAST(round(ts * 1000000) AS INTEGER) AS micros FROM logs))
                AS keyed
           WHERE logs.id = keyed.old_id""",
        "INSERT INTO logs_fts (logs_fts) VALUES ('rebuild')",
        "CREATE INDEX logs_level ON logs (levelno)",
        "CREATE INDEX logs_run ON logs (run_id)",
    ),
    (  # 3: closed trades (the P&L figures and chart) read from a covering partial index
        """CREATE INDEX trades_closed ON trades (ts, pnl)
           WHERE side = 'SELL' AND pnl IS NOT NULL""",
    ),
    (  # 4: the TOTP step of a login lives server-side, and each TOTP code is accepted once
        "ALTER TABLE users ADD COLUMN totp_last_step INTEGER",
        """CREATE TABLE login_steps (
            token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, created_at REAL,
            expires_at REAL)""",
        "CREATE INDEX login_steps_user ON login_steps (username)",
    ),
    (  # 5: money the owner paid or made as whole paise in <field>_paise columns: exact sums,
       # and no price reads back as 1675.8699999999997 (see MONEY_FIELDS in store/common.py)
        "DROP INDEX trades_closed",
        "ALTER TABLE trades ADD COLUMN price_paise INTEGER",
        "ALTER TABLE trades ADD COLUMN pnl_paise INTEGER",
        """UPDATE trades SET price_paise = CAST(round(price * 100) AS INTEGER),
                            pnl_paise = CAST(round(pnl * 100) AS INTEGER)""",
        "ALTER TABLE trades DROP COLUMN price",
        "ALTER TABLE trades DROP COLUMN pnl",
        """CREATE INDEX trades_closed ON trades (ts, pnl_paise)
           WHERE side = 'SELL' AND pnl_paise IS NOT NULL""",
        "ALTER TABLE orders ADD COLUMN traded_price_paise INTEGER",
        "UPDATE orders SET traded_price_paise = CAST(round(traded_price * 100) AS INTEGER)",
        "ALTER TABLE orders DROP COLUMN traded_price",
        "ALTER TABLE positions ADD COLUMN last_buy_price_paise INTEGER",
        """UPDATE positions
           SET last_buy_price_paise = CAST(round(last_buy_price * 100) AS INTEGER)""",
        "ALTER TABLE positions DROP COLUMN last_buy_price",
    ),
    (  # 6: closed trades are summed per IST day (the Trading page's figures and chart) in the
       # order of an index on the day number, without sorting; IST is UTC+05:30 (19800 s)
        "DROP INDEX trades_closed",
        """CREATE INDEX trades_closed_day
           ON trades (CAST((ts + 19800) / 86400 AS INTEGER), pnl_paise)
           WHERE side = 'SELL' AND pnl_paise IS NOT NULL""",
    ),
    (  # 7: a run records its steps (login, prices, decisions, orders, fills) as it goes, for
       # the live run page: a JSON list on the run's row
        "ALTER TABLE runs ADD COLUMN steps TEXT",
    ),
    (  # 8: the closed trades' sums per IST day kept as trades are recorded (trades are only
       # ever inserted), so the Trading page reads one row a day instead of every sale
        """CREATE TABLE closed_days (
               day INTEGER PRIMARY KEY,  -- days after 1970-01-01 of ts + 19800 s (IST)
               closed INTEGER NOT NULL, wins INTEGER NOT NULL, win_paise INTEGER NOT NULL,
               losses INTEGER NOT NULL, loss_paise INTEGER NOT NULL)""",
        """INSERT INTO closed_days
           SELECT CAST((ts + 19800) / 86400 AS INTEGER) AS day, COUNT(*),
                  COUNT(CASE WHEN pnl_paise > 0 THEN 1 END),
                  COALESCE(SUM(CASE WHEN pnl_paise > 0 THEN pnl_paise END), 0),
                  COUNT(CASE WHEN pnl_paise < 0 THEN 1 END),
                  COALESCE(SUM(CASE WHEN pnl_paise < 0 THEN pnl_paise END), 0)
           FROM trades WHERE side = 'SELL' AND pnl_paise IS NOT NULL GROUP BY day""",
        """CREATE TRIGGER trades_sum_closed_day AFTER INSERT ON trades
           WHEN NEW.side = 'SELL' AND NEW.pnl_paise IS NOT NULL
           BEGIN
               INSERT INTO closed_days
               VALUES (CAST((NEW.ts + 19800) / 86400 AS INTEGER), 1, NEW.pnl_paise > 0,
                       max(NEW.pnl_paise, 0), NEW.pnl_paise < 0, min(NEW.pnl_paise, 0))
               ON CONFLICT (day) DO UPDATE SET
                   closed = closed + 1, wins = wins + excluded.wins,
                   win_paise = win_paise + excluded.win_paise,
                   losses = losses + excluded.losses,
                   loss_paise = loss_paise + excluded.loss_paise;
           END""",
        "DROP INDEX trades_closed_day",
    ),
    (  # 9: the paper book (docs/paper.md): runs, orders, trades, positions and closed-day sums
       # of paper trading in paper_* tables beside the real ones, so the books never mix; a
       # run records the book it ran on
        "ALTER TABLE runs ADD COLUMN book TEXT",
        "UPDATE runs SET book = 'real'",
        """CREATE TABLE paper_runs (
            run_id TEXT PRIMARY KEY, "trigger" TEXT, status TEXT, started_at REAL,
            finished_at REAL, summary TEXT, error TEXT, dry_run INTEGER, steps TEXT, book TEXT)""",
        "CREATE INDEX paper_runs_started ON paper_runs (started_at)",
        """CREATE TABLE paper_orders (
            tag TEXT PRIMARY KEY, run_id TEXT, symbol TEXT, side TEXT, qty INTEGER, reason TEXT,
            broker_order_id TEXT, status TEXT, filled_qty INTEGER, message TEXT, created_at REAL,
            updated_at REAL, traded_price_paise INTEGER)""",
        "CREATE INDEX paper_orders_created ON paper_orders (created_at)",
        "CREATE INDEX paper_orders_run ON paper_orders (run_id)",
        """CREATE TABLE paper_trades (
            trade_id TEXT PRIMARY KEY, run_id TEXT, order_tag TEXT, symbol TEXT NOT NULL,
            side TEXT NOT NULL, qty INTEGER NOT NULL, ts REAL NOT NULL, source TEXT,
            price_paise INTEGER, pnl_paise INTEGER)""",
        "CREATE INDEX paper_trades_ts ON paper_trades (ts)",
        "CREATE INDEX paper_trades_symbol_ts ON paper_trades (symbol, ts)",
        """CREATE TABLE paper_positions (
            symbol TEXT PRIMARY KEY, qty INTEGER NOT NULL, avg_price REAL NOT NULL,
            opened_at REAL, updated_at REAL, last_buy_price_paise INTEGER)""",
        """CREATE TABLE paper_closed_days (
               day INTEGER PRIMARY KEY, closed INTEGER NOT NULL, wins INTEGER NOT NULL,
               win_paise INTEGER NOT NULL, losses INTEGER NOT NULL, loss_paise INTEGER NOT NULL)""",
        """CREATE TRIGGER paper_trades_sum_closed_day AFTER INSERT ON paper_trades
           WHEN NEW.side = 'SELL' AND NEW.pnl_paise IS NOT NULL
           BEGIN
               INSERT INTO paper_closed_days
               VALUES (CAST((NEW.ts + 19800) / 86400 AS INTEGER), 1, NEW.pnl_paise > 0,
                       max(NEW.pnl_paise, 0), NEW.pnl_paise < 0, min(NEW.pnl_paise, 0))
               ON CONFLICT (day) DO UPDATE SET
                   closed = closed + 1, wins = wins + excluded.wins,
                   win_paise = win_paise + excluded.win_paise,
                   losses = losses + excluded.losses,
                   loss_paise = loss_paise + excluded.loss_paise;
           END""",
    ),
    (  # 10: an order's outcome in the owner's words (order_outcomes.py) needs how long the bot
       # waited before cancelling it and what became of a partly filled order's rest; both books
        "ALTER TABLE orders ADD COLUMN wait_s REAL",
        "ALTER TABLE orders ADD COLUMN rest TEXT",
        "ALTER TABLE paper_orders ADD COLUMN wait_s REAL",
        "ALTER TABLE paper_orders ADD COLUMN rest TEXT",
    ),
]
