"""Progress of long work: a one-line bar with the ETA on a terminal's stderr, a count in the
log every 10 % otherwise."""
from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

logger = logging.getLogger(__name__)
BAR = 30


class Progress:
    """Counts finished items of `total` and shows it as stderr's nature allows."""

    def __init__(self, total: int, what: str, stream: TextIO | None = None) -> None:
        self.total, self.what, self.done = total, what, 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self.logged_tenths = 0

    def eta(self) -> str:
        """The time left at the pace so far, as m:ss."""
        if not self.done:
            return "?"
        left = (time.monotonic() - self.started) / self.done * (self.total - self.done)
        return f"{int(left // 60)}:{int(left % 60):02d}"

    def show(self) -> None:
        """Draw the bar at 0 (a terminal only), before the first item has finished."""
        if self.tty:
            self._draw()

    def _draw(self) -> None:
        filled = BAR * self.done // self.total
        eta = f", ETA {self.eta()}" if self.done else ""  # no pace yet, so no ETA
        self.stream.write(f"\r[{'#' * filled}{'.' * (BAR - filled)}] {self.done}/"
                          f"{self.total} {self.what}{eta} ")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()

    def step(self) -> None:
        """One more item finished."""
        self.done += 1
        if self.tty:
            self._draw()
        elif self.done * 10 // self.total > self.logged_tenths or self.done == self.total:
            self.logged_tenths = self.done * 10 // self.total
            logger.info("%d/%d %s done, ETA %s", self.done, self.total, self.what, self.eta())

    def end(self) -> None:
        """Stopped before the last item: end the bar's line, so what follows starts its own."""
        if self.tty and self.done < self.total:
            self.stream.write("\n")
            self.stream.flush()
