"""Progress of long stages: what runs, how many, how fast, how long it took and will take.

:func:`stage` logs the start and end of a stage; :func:`track` counts the units of its
loop (calculations, MD steps, epochs, fit iterations) with rate and time left, as a bar
on a terminal and as sparse plain lines in a log.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("pyacemaker")


@dataclass
class StageClock:
    """Elapsed wall time of a stage, readable once the stage has ended."""

    start: float
    seconds: float = 0.0


@contextmanager
def stage(name: str, detail: str = "") -> Iterator[StageClock]:
    """Log the start and the end (with wall time) of a pipeline stage."""
    clock = StageClock(time.perf_counter())
    logger.info("▶ %s %s", name, detail)
    try:
        yield clock
    except Exception:
        logger.error("✘ %s failed after %.1f s", name, time.perf_counter() - clock.start)
        raise
    clock.seconds = time.perf_counter() - clock.start
    logger.info("✔ %s done in %.1f s", name, clock.seconds)


PROGRESS_ENV = "PYACEMAKER_PROGRESS"  # "lines" forces plain lines even on a terminal
LINE_EVERY_S = 30.0  # plain mode: a line at least this often while work is done ...
LINE_EVERY_FRACTION = 0.1  # ... or each time another tenth is done ...
LINE_MIN_S = 2.0  # ... but never two lines within this many seconds (the last one aside)


def duration(seconds: float) -> str:
    """A human time span: ``45 s``, ``3 min 20 s``, ``2 h 05 min``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def on_terminal() -> bool:
    """Whether progress may redraw a bar (stderr is a terminal and lines are not forced)."""
    return sys.stderr.isatty() and os.environ.get(PROGRESS_ENV, "") != "lines"


@dataclass
class Progress:
    """Done/total of a long loop with its rate and the time left.

    On a terminal a tqdm bar redraws in place; otherwise (a log file, a batch job) a
    plain line is logged when another tenth is done or 30 s have passed, never more
    than one every 2 s, plus a last line: a days-long run gives tens of lines per
    stage, not one per step.
    """

    what: str
    total: int
    unit: str = "it"
    done: int = 0
    note: str = ""
    start: float = field(default_factory=time.perf_counter)
    _last: tuple[float, int] = field(default=(0.0, 0), init=False, repr=False)  # last line
    _bar: Any = field(default=None, init=False, repr=False)
    _first: tuple[float, int] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        """Open the bar on a terminal."""
        self._last = (self.start, 0)
        if on_terminal():
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=self.what, unit=self.unit,
                             dynamic_ncols=True, mininterval=0.5)  # fmt: skip

    def rate(self) -> float:
        """Units per second, measured from the first unit done on.

        The time before the first unit (an engine starting up: MACE's imports, a pw.x
        first SCF) is not spread over the rest, so the time left is not overestimated.
        """
        now = time.perf_counter()
        if self._first is not None and self.done > self._first[1] and now > self._first[0]:
            return (self.done - self._first[1]) / (now - self._first[0])
        elapsed = now - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        """``what: done/total unit (pct), rate/s, ~time left[, note]``."""
        rate, left = self.rate(), self.total - self.done
        eta = f"~{duration(left / rate)} left" if rate > 0 and left > 0 else "done"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        note = f", {self.note}" if self.note else ""
        return (f"{self.what}: {self.done}/{self.total} {self.unit} ({pct:.0f}%), "
                f"{rate:.3g} {self.unit}/s, {eta}{note}")  # fmt: skip

    def advance(self, n: int = 1, note: str | None = None) -> None:
        """Count ``n`` more units done; ``note`` is a short status (e.g. the current γ)."""
        n = max(0, n)
        self.done = min(self.total, self.done + n) if self.total else self.done + n
        if note is not None:
            self.note = note
        if self._first is None:
            self._first = (time.perf_counter(), self.done)
        if self._bar is not None:
            self._bar.update(n)
            if note is not None:
                self._bar.set_postfix_str(note, refresh=False)
            return
        now = time.perf_counter()
        since, count = now - self._last[0], self.done - self._last[1]
        tenth = self.total and count >= LINE_EVERY_FRACTION * self.total
        finished = self.total and self.done >= self.total
        if finished or (since >= LINE_MIN_S and (tenth or since >= LINE_EVERY_S)):
            logger.info("  %s", self.line())
            self._last = (now, self.done)

    def close(self) -> None:
        """Close the bar (plain mode has already logged its last line)."""
        if self._bar is not None:
            self._bar.close()


@contextmanager
def track(what: str, total: int, unit: str = "it") -> Iterator[Progress]:
    """Progress of a loop of ``total`` units; closed at the end, also on an error.

    With a bar, log records go through tqdm meanwhile so they do not tear the bar.
    """
    progress = Progress(what, total, unit)
    try:
        if progress._bar is None:
            yield progress
        else:
            from tqdm.contrib.logging import logging_redirect_tqdm

            with logging_redirect_tqdm():
                yield progress
    finally:
        progress.close()
