"""Where the launchpad and the MongoDB job store are, and the files that say so.

FireWorks finds its launchpad from ``--launchpad``, ``$LAUNCHPAD_FILE`` or its usual
config lookup (``$FW_CONFIG_FILE`` → ``FW_config.yaml`` → ``my_launchpad.yaml``);
jobflow workers find the job store in ``jobflow.yaml`` named by
``$JOBFLOW_CONFIG_FILE``. :func:`write_config_files` writes a consistent set of these
files for one server, the same set ``fw_config/`` documents as templates.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml
from fireworks import LaunchPad
from jobflow import JobStore
from pydantic import BaseModel, ConfigDict, Field

LAUNCHPAD_ENV = "LAUNCHPAD_FILE"
JOBFLOW_CONFIG_ENV = "JOBFLOW_CONFIG_FILE"
OUTPUTS = "outputs"  # job store collection (one document per job output)
BLOBS = "outputs_blobs"  # GridFS bucket of the additional store "data"

# fworker name -> FireWorks categories it pulls; every job of a flow gets one category
# (see pyacemaker.cluster.submit.category_of), so the three workers cover every job.
WORKER_CATEGORIES: dict[str, list[str]] = {
    "my_fworker": [],  # no filter: a single machine runs everything
    "my_fworker_cpu": ["dft", "cpu"],
    "my_fworker_gpu": ["train"],
}


class ServerSettings(BaseModel):
    """A MongoDB(-compatible) server and the database that holds launchpad and job store."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="localhost", description="server host name or address")
    port: int = Field(default=27017, description="server port")
    database: str = Field(default="pyacemaker", description="database for fireworks and outputs")
    username: str | None = Field(default=None, description="user, if the server needs one")
    password: str | None = Field(default=None, description="that user's password")


def load_launchpad(path: str | Path | None = None) -> LaunchPad:
    """The launchpad from ``path``, ``$LAUNCHPAD_FILE`` or FireWorks' own config lookup."""
    chosen = path or os.environ.get(LAUNCHPAD_ENV)
    if chosen:
        return LaunchPad.from_file(str(chosen))
    return LaunchPad.auto_load()


def launchpad_spec(server: ServerSettings) -> dict[str, Any]:
    """``my_launchpad.yaml`` content for ``server``."""
    spec: dict[str, Any] = {"host": server.host, "port": server.port, "name": server.database}
    if server.username:
        spec.update(username=server.username, password=server.password)
    return spec


def job_store_spec(server: ServerSettings) -> dict[str, Any]:
    """``JOB_STORE`` of ``jobflow.yaml``: MongoStore for documents, GridFS for blobs."""
    common: dict[str, Any] = {"database": server.database, "host": server.host, "port": server.port}
    if server.username:
        common.update(username=server.username, password=server.password)
    return {
        "docs_store": {"type": "MongoStore", "collection_name": OUTPUTS, **common},
        "additional_stores": {"data": {"type": "GridFSStore", "collection_name": BLOBS, **common}},
    }


def job_store_from_file(path: str | Path | None = None) -> JobStore:
    """The job store of a ``jobflow.yaml`` (``path`` or ``$JOBFLOW_CONFIG_FILE``)."""
    chosen = path or os.environ.get(JOBFLOW_CONFIG_ENV)
    if not chosen:
        raise FileNotFoundError(
            f"no jobflow.yaml: pass its path or set {JOBFLOW_CONFIG_ENV} (see docs/scale-out.md)"
        )
    spec = yaml.safe_load(Path(chosen).read_text())["JOB_STORE"]
    return JobStore.from_dict_spec(spec)


def qadapter_spec(config_dir: Path, partition: str | None, walltime: str) -> dict[str, Any]:
    """``my_qadapter.yaml``: Slurm jobs that run ``rlaunch rapidfire`` with these files.

    ``rlaunch`` is named by its path in this Python's environment when it is there, so
    the batch job does not depend on the job's ``PATH``.
    """
    local = Path(sys.executable).parent / "rlaunch"
    rlaunch = str(local) if local.is_file() else "rlaunch"
    rocket = f"{rlaunch} -c {config_dir} rapidfire"
    return {
        "_fw_name": "CommonAdapter",
        "_fw_q_type": "SLURM",
        "rocket_launch": rocket,
        "nodes": 1,
        "ntasks": 1,
        "walltime": walltime,
        "queue": partition,
        "job_name": "pyacemaker",
        "pre_rocket": f"export {JOBFLOW_CONFIG_ENV}={config_dir / 'jobflow.yaml'}",
        "logdir": str(config_dir / "logs"),
    }


def write_config_files(
    folder: str | Path,
    server: ServerSettings,
    partition: str | None = None,
    walltime: str = "01:00:00",
) -> dict[str, Path]:
    """Write launchpad, job store, fworker, qadapter and ``FW_config.yaml`` files for a server."""
    out = Path(folder).resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {
        "my_launchpad.yaml": launchpad_spec(server),
        "jobflow.yaml": {"JOB_STORE": job_store_spec(server)},
        "my_qadapter.yaml": qadapter_spec(out, partition, walltime),
        "FW_config.yaml": {"CONFIG_FILE_DIR": str(out), "QUEUE_UPDATE_INTERVAL": 5},
    }
    for name, categories in WORKER_CATEGORIES.items():
        files[f"{name}.yaml"] = {"name": name, "category": categories or "", "query": "{}"}
    written = {}
    for name, content in files.items():
        path = out / name
        path.write_text(yaml.safe_dump(content, sort_keys=False))
        written[name] = path
    return written
