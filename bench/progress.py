"""Progress of a long bench run, on stderr (the results stay alone on stdout): what is done, the elapsed time,
and an estimate of what is left, at most every few seconds, so a run of minutes shows it is alive."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, what: str, total: float | None = None, *, every: float = 5.0) -> None:
        self.what, self.total, self.every = what, total, every
        self.started = self.last = time.perf_counter()

    def update(self, done: float, detail: str = "") -> None:
        """Report `done` (of total, where known), unless the last report was less than `every` seconds ago."""
        now = time.perf_counter()
        if now - self.last < self.every:
            return
        self.last = now
        elapsed = now - self.started
        line = f"  {self.what}: {done:g}" + (f"/{self.total:g}" if self.total else "")
        if self.total and done:
            line += f", {elapsed:.0f} s, about {elapsed * (self.total - done) / done:.0f} s left"
        else:
            line += f", {elapsed:.0f} s"
        print(line + (f" ({detail})" if detail else ""), file=sys.stderr, flush=True)
