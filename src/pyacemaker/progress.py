"""Progress lines for long stages: what runs, how many, how long it took."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

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
