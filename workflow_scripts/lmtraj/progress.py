"""A progress line for logs: done/total, rate and ETA, at most every `every_s` seconds."""

from __future__ import annotations

import logging
import time


class Progress:
    def __init__(
        self,
        total: int,
        log: logging.Logger,
        label: str,
        unit: str = "items",
        every_s: float = 10.0,
    ):
        self.total, self.log, self.label, self.unit, self.every_s = (
            total,
            log,
            label,
            unit,
            every_s,
        )
        self.done_n = 0
        self.start = self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.done_n += n
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            self.log.info(self._line(now))

    def _line(self, now: float) -> str:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done_n / elapsed
        left = (self.total - self.done_n) / rate if rate > 0 else float("nan")
        pct = 100.0 * self.done_n / self.total if self.total else 100.0
        return (
            f"{self.label}: {self.done_n}/{self.total} {self.unit} ({pct:.0f}%), "
            f"{rate:.1f} {self.unit}/s, elapsed {elapsed:.0f}s, ETA {left:.0f}s"
        )

    def done(self) -> float:
        """Log the final line and return the elapsed seconds."""
        now = time.monotonic()
        self.log.info(self._line(now))
        return now - self.start
