"""Where the dashboard reads runs from: the embedded store or a FireWorks launchpad.

Both give the same :class:`RunView` (stages with states and timings, the latest output
document of every stage), so the pages do not know where a run lives. Nothing here
writes: only queries are issued, and a store folder that does not exist is refused
instead of being created. A MongoDB address is only ever shown without its password.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from fireworks import LaunchPad

from pyacemaker.cluster.config import OUTPUTS, load_launchpad
from pyacemaker.cluster.status import fireworks_of
from pyacemaker.store import STORE_ENV, RunBook, RunRecord, job_states, job_store

Doc = dict[str, Any]
OUTPUT_FIELDS = ["uuid", "index", "name", "completed_at", "output"]


@dataclass
class Stage:
    """One job of a run: its state, when it finished and about how long it took (s)."""

    name: str
    state: str
    finished: datetime | None = None
    seconds: float | None = None


@dataclass
class RunListing:
    """A run in the run list."""

    run_id: str
    name: str
    state: str
    started: str


@dataclass
class RunView:
    """Everything the pages show of one run, read in one go."""

    run_id: str
    name: str
    state: str
    started: datetime | None
    output_dir: Path | None
    stages: list[Stage]
    outputs: dict[str, Doc] = field(default_factory=dict)  # stage name -> latest output


class RunSource(Protocol):
    """What the dashboard needs from a place that holds runs."""

    @property
    def where(self) -> str:
        """Printable location, without credentials."""
        ...

    def runs(self) -> list[RunListing]:
        """Every run, newest first."""
        ...

    def view(self, run_id: str) -> RunView | None:
        """One run, or None if this source does not know it."""
        ...


def parse_time(value: Any) -> datetime | None:
    """An aware datetime from an ISO string or a datetime (naive ones are local time)."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC)


def latest_outputs(docs: list[Doc]) -> dict[str, Doc]:
    """Stage name -> output of its highest index (a job that replaced itself: the last)."""
    best: dict[str, Doc] = {}
    for doc in sorted(docs, key=lambda d: int(d.get("index", 1))):
        if isinstance(doc.get("output"), dict):
            best[str(doc["name"])] = doc["output"]
    return best


def _finish_times(docs: list[Doc]) -> dict[str, datetime]:
    """Job uuid -> when its last output was stored."""
    times: dict[str, datetime] = {}
    for doc in docs:
        moment = parse_time(doc.get("completed_at"))
        if moment is not None and (doc["uuid"] not in times or moment > times[doc["uuid"]]):
            times[doc["uuid"]] = moment
    return times


def time_stages(stages: list[Stage], start: datetime | None) -> None:
    """Fill ``seconds``: a stage took from the previous finish (or the start) to its own.

    Local runs execute one job at a time, so this is the job's wall time; the running
    stage gets the time since the last finish.
    """
    previous = start
    for stage in sorted((s for s in stages if s.finished), key=lambda s: s.finished or 0):
        if previous is not None and stage.finished is not None:
            stage.seconds = max(0.0, (stage.finished - previous).total_seconds())
        previous = stage.finished
    for stage in stages:
        if stage.state == "RUNNING" and previous is not None:
            stage.seconds = (datetime.now(UTC) - previous).total_seconds()


def _still_iterating(output: Doc | None) -> bool:
    """An active-learning output whose loop has not stopped (it will replace itself)."""
    return output is not None and "iterations" in output and output.get("stop_reason") is None


class EmbeddedSource:
    """Runs of the embedded store (``pyacemaker run --store DIR``)."""

    def __init__(self, folder: str | Path | None = None) -> None:
        """Open an existing store folder; refuse one that is not there (nothing is created)."""
        chosen = folder or os.environ.get(STORE_ENV) or Path.home() / ".pyacemaker" / "store"
        path = Path(chosen).expanduser().resolve()
        if not (path / "pyacemaker").is_dir():
            raise FileNotFoundError(
                f"--store: {path}: no pyacemaker store there: give the folder of "
                "`pyacemaker run --store` (or set $PYACEMAKER_STORE)"
            )
        self.folder = path
        self.book = RunBook(path)
        self.store = job_store(path)
        self.store.connect()

    @property
    def where(self) -> str:
        """The store's folder."""
        return f"embedded store {self.folder}"

    def runs(self) -> list[RunListing]:
        """Every recorded run, newest first."""
        return [
            RunListing(r.run_id, r.name, r.state, r.started) for r in reversed(self.book.all())
        ]

    def view(self, run_id: str) -> RunView | None:
        """Stages (COMPLETED / RUNNING / WAITING / FAILED / NOT RUN) and outputs of a run."""
        record = self.book.get(run_id)
        if record is None:
            return None
        docs = list(self.store.query(
            {"uuid": {"$in": [j.uuid for j in record.jobs]}}, properties=OUTPUT_FIELDS
        ))  # fmt: skip
        outputs = latest_outputs(docs)
        stages = _embedded_stages(record, self.store, _finish_times(docs), outputs)
        view = RunView(
            record.run_id, record.name, record.state, parse_time(record.started),
            Path(record.output_dir), stages, outputs,
        )  # fmt: skip
        time_stages(view.stages, view.started)
        return view


def _embedded_stages(
    record: RunRecord, store: Any, finished: dict[str, datetime], outputs: dict[str, Doc]
) -> list[Stage]:
    """States from the store; in a running run the first waiting job ready to go runs."""
    done = set(finished)
    stages, running = [], False
    for entry, (name, stored) in zip(record.jobs, job_states(record, store), strict=True):
        ready = stored == "WAITING" and set(entry.parents) <= done
        going = ready or _still_iterating(outputs.get(name))
        state = "RUNNING" if record.state == "RUNNING" and not running and going else stored
        running = running or state == "RUNNING"
        stages.append(Stage(name, state, finished.get(entry.uuid)))
    return stages


def display_uri(lpad: LaunchPad) -> str:
    """The launchpad's MongoDB address with the password replaced by ``***``."""
    host, user = str(lpad.host), getattr(lpad, "username", None)
    if host.startswith(("mongodb://", "mongodb+srv://")):
        parts = urlsplit(host)
        netloc = parts.netloc
        if "@" in netloc:
            credentials, address = netloc.rsplit("@", 1)
            netloc = f"{credentials.split(':', 1)[0]}:***@{address}"
        return urlunsplit(parts._replace(netloc=netloc))
    who = f"{user}:***@" if user else ""
    return f"mongodb://{who}{host}:{lpad.port}/{lpad.name}"


class LaunchpadSource:
    """Runs submitted to a FireWorks launchpad; job outputs in the same database."""

    def __init__(self, launchpad_file: str | Path | None = None) -> None:
        """Connect with the launchpad file (or FireWorks' own lookup); fail now if unreachable."""
        self.lpad = load_launchpad(launchpad_file)
        self.db = self.lpad.db
        self.db.command("ping")

    @property
    def where(self) -> str:
        """The launchpad's address (no password)."""
        return f"launchpad {display_uri(self.lpad)}"

    def runs(self) -> list[RunListing]:
        """Workflows with a pyacemaker run id, newest first."""
        found = self.db["workflows"].find(
            {"metadata.run_id": {"$exists": True}},
            {"name": 1, "state": 1, "metadata": 1, "created_on": 1},
        )
        listing = [
            RunListing(w["metadata"]["run_id"], w["name"], w["state"], str(w.get("created_on")))
            for w in found
        ]
        return sorted(listing, key=lambda r: r.started, reverse=True)

    def view(self, run_id: str) -> RunView | None:
        """Fireworks (states and launch times) and job outputs of a run."""
        wf = self.db["workflows"].find_one({"metadata.run_id": run_id})
        if wf is None:
            return None
        fireworks = fireworks_of(self.lpad, wf["nodes"])
        docs = list(self.db[OUTPUTS].find({"hosts": run_id}, dict.fromkeys(OUTPUT_FIELDS, 1)))
        outputs = latest_outputs(docs)
        stages = [self._stage(fw) for fw in fireworks]
        return RunView(
            run_id, wf["name"], wf["state"], parse_time(wf.get("created_on")),
            output_dir_of(outputs), stages, outputs,
        )  # fmt: skip

    def _stage(self, fw: Doc) -> Stage:
        """A firework's state and its last launch's end time and run time."""
        launch = self.db["launches"].find_one(
            {"fw_id": fw["fw_id"]}, {"time_end": 1, "runtime_secs": 1}, sort=[("launch_id", -1)]
        )
        launch = launch or {}
        return Stage(
            fw["name"], str(fw["state"]), parse_time(launch.get("time_end")),
            launch.get("runtime_secs"),
        )  # fmt: skip


def output_dir_of(outputs: dict[str, Doc]) -> Path | None:
    """The run's folder, two levels above a stage's dataset (``<dir>/03_dft_train/...``)."""
    for output in outputs.values():
        dataset = output.get("dataset")
        if isinstance(dataset, str):
            return Path(dataset).parents[1]
    return None


def open_source(store: str | None, launchpad: str | None) -> RunSource:
    """The launchpad when given, else the embedded store."""
    if launchpad:
        return LaunchpadSource(launchpad)
    return EmbeddedSource(store)
