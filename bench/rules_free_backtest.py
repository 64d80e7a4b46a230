"""backtest.py with its rules made free: how fast a backtest could be if decide() cost nothing.

`python -m bench.rules_free_backtest record|replay ANSWERS -- <backtest.py options>` runs
backtest.py's own main(). `record` lets decide() run and saves every day's answer to the file
ANSWERS; `replay`, given the same options, hands those answers back in order without calling
decide() or building its inputs, so it makes the same trades while everything else (start-up,
imports, the cache, the deviations, the shortlists, the fills, the four files) is done as
usual. Its end-to-end time is the floor of the run that no change to the rules can go below.
"""
from __future__ import annotations

import dataclasses
import marshal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import backtest
from backtesting import engine
from strategy_rules import Intent


def record(answers: Path, argv: list[str]) -> int:
    """Run backtest.py and save each day's intents, as field tuples, to `answers`."""
    days: list[list[tuple]] = []
    decide = engine.decide

    def recording(*args: Any) -> list[Intent]:
        intents = decide(*args)
        days.append([dataclasses.astuple(intent) for intent in intents])
        return intents

    engine.decide = recording
    status = backtest.main(argv)
    answers.write_bytes(marshal.dumps(days))
    return status


def replay(answers: Path, argv: list[str]) -> int:
    """Run backtest.py with decide() and its inputs replaced by the answers `record` saved."""
    days: Iterator[list[tuple]] = iter(marshal.loads(answers.read_bytes()))
    engine._inputs = lambda *args: ()
    engine.decide = lambda *args: [Intent(*fields) for fields in next(days)]
    return backtest.main(argv)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] not in ("record", "replay") or argv[2] != "--":
        sys.exit("usage: python -m bench.rules_free_backtest record|replay ANSWERS -- "
                 "<backtest.py options>")
    mode, answers, _, *options = argv
    return (record if mode == "record" else replay)(Path(answers), options)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
