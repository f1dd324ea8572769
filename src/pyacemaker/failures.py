"""Why a run failed: the stage, the engine's own last error lines, the folder to look in.

jobflow's local manager catches a failing job's exception and logs its traceback at
INFO on ``jobflow.managers.local`` (which the CLI silences), then skips the job's
descendants. :func:`capture_failures` listens there for the duration of a run and keeps
those tracebacks; :func:`first_failure` turns the first one into a :class:`Failure`
that the runner stores in the run record (``pyacemaker status`` prints it) and raises.
The engines' exceptions already carry their log tails (pacemaker, mace_run_train,
pw.x), so the last lines of the exception message are the engine's own words.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel

JOBFLOW_LOGGER = "jobflow.managers.local"
_FAILED = re.compile(r"^(?P<name>.+?) failed with exception:\n(?P<tb>.*)$", re.S)
TAIL_LINES = 12


class Failure(BaseModel):
    """The first stage that failed, its error's last lines, and where its files are."""

    stage: str
    error: list[str]
    folder: str

    def summary(self) -> str:
        """One line for the run record and ``pyacemaker status``."""
        said = " | ".join(dict.fromkeys([self.error[0], self.error[-1]]))  # first and last
        return f"stage {self.stage} failed: {said} (in {self.folder})"

    def message(self, run: str) -> str:
        """What the command prints: the stage, the error lines, the folder."""
        lines = [f"run {run} failed at stage {self.stage}:"]
        lines += [f"    {line}" for line in self.error]
        lines.append(f"look in {self.folder}; `pyacemaker status` shows this again")
        return "\n".join(lines)


class _Collector(logging.Handler):
    """Keeps (job name, traceback) of each failed job; passes other records on."""

    def __init__(self, parent: logging.Logger, level: int) -> None:
        super().__init__(logging.DEBUG)
        self.failed: list[tuple[str, str]] = []
        self.parent, self.level_before = parent, level

    def emit(self, record: logging.LogRecord) -> None:
        match = _FAILED.match(record.getMessage())
        if match:
            self.failed.append((match["name"], match["tb"]))
        elif record.levelno >= self.level_before:
            self.parent.handle(record)  # what the user would have seen without us


@contextmanager
def capture_failures() -> Iterator[_Collector]:
    """Collect the tracebacks jobflow logs for failed jobs while the block runs."""
    log = logging.getLogger(JOBFLOW_LOGGER)
    before = (log.level, log.propagate)
    collector = _Collector(logging.getLogger("jobflow"), log.getEffectiveLevel())
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(collector)
    try:
        yield collector
    finally:
        log.removeHandler(collector)
        log.setLevel(before[0])
        log.propagate = before[1]


def error_lines(traceback_text: str, limit: int = TAIL_LINES) -> list[str]:
    """The exception's own message (type: text and the log tail it carries), last lines."""
    lines = traceback_text.rstrip().splitlines()
    frames = [i for i, line in enumerate(lines) if line.startswith('  File "')]
    start = frames[-1] + 1 if frames else 0
    while start < len(lines) and lines[start].startswith("    "):
        start += 1  # the source line (and caret markers) of the last frame
    message = [line.rstrip() for line in lines[start:] if line.strip()]
    return message[-limit:] if len(message) > limit else message


def job_folders(jobs: Sequence[Any], output_dir: Path) -> dict[str, str]:
    """Stage name -> its working folder (the argument that lies inside ``output_dir``)."""
    folders: dict[str, str] = {}
    root = str(output_dir)
    for job in jobs:
        if hasattr(job, "jobs"):  # a sub-flow
            folders |= job_folders(job.jobs, output_dir)
            continue
        args = [*getattr(job, "function_args", ()), *getattr(job, "function_kwargs", {}).values()]
        inside = [a for a in args if isinstance(a, str) and a.startswith(root) and "." not in
                  Path(a).name]  # folders, not data files  # fmt: skip
        if inside:
            folders[str(job.name)] = inside[-1]
    return folders


def first_failure(
    collector: _Collector, folders: dict[str, str], output_dir: Path
) -> Failure | None:
    """The first failed stage (the others failed only because it did), or None."""
    if not collector.failed:
        return None
    name, tb = collector.failed[0]
    folder = folders.get(name) or next(
        (f for stage, f in folders.items() if name.startswith(stage)), str(output_dir)
    )
    return Failure(stage=name, error=error_lines(tb) or ["(no message)"], folder=folder)
