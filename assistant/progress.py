"""A one-line progress bar on stderr for the command line: only on a terminal, and only once
the work has taken more than a moment."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """Call it as `bar(done, total, current)`; `close()` ends the line if one was drawn."""

    def __init__(self, label: str, unit: str = "sentences", delay: float = 0.5) -> None:
        self.label = label
        self.unit = unit
        self.delay = delay
        self.started = time.monotonic()
        self.shown = False
        self.enabled = sys.stderr.isatty()

    def __call__(self, done: int, total: int, current: str) -> None:
        elapsed = time.monotonic() - self.started
        if not self.enabled or (not self.shown and elapsed < self.delay):
            return
        self.shown = True
        width = 30
        filled = int(width * done / max(total, 1))
        rate = done / max(elapsed, 1e-6)
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                         f"{done}/{total} {self.unit}, {rate:.1f}/s  {current[-28:]:<28}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
