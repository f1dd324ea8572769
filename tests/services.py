"""Real services for the scale-out tests: a MongoDB-compatible server and a one-node Slurm.

Both are started by the fixtures under a temporary folder and stopped afterwards; nothing
is started by hand. ``PYACEMAKER_TEST_MONGODB_URI`` points the tests at a real MongoDB
instead of secantusdb. A service that cannot start FAILS the test with the reason (its
log), it never skips: CI installs both with ``scripts/setup.sh``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

MONGODB_URI_ENV = "PYACEMAKER_TEST_MONGODB_URI"
STARTUP_TIMEOUT_S = 60.0


def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(
    ready: Callable[[], bool], what: str, logs: list[Path], procs: list[subprocess.Popen[bytes]]
) -> None:
    """Poll ``ready`` until it holds; fail the test with the services' logs otherwise."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if ready():
            return
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            break
        time.sleep(0.3)
    tails = "\n".join(f"--- {p}:\n{p.read_text()[-3000:]}" for p in logs if p.is_file())
    pytest.fail(f"{what} did not start (exit codes {[p.poll() for p in procs]}):\n{tails}")


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate the processes this module started (by pid), killing them if they linger."""
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
    for proc in reversed(procs):
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tool(name: str) -> str:
    """Path of an executable next to this Python (venv scripts) or on PATH; fail if absent."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run scripts/setup.sh (it installs it)")
    return found


# --- MongoDB-compatible server ----------------------------------------------------------


@dataclass
class Mongo:
    """Where the test server listens and which database this test session owns."""

    host: str
    port: int
    database: str
    uri: str


def _mongo_ready(uri: str) -> Callable[[], bool]:
    def ready() -> bool:
        import pymongo

        try:
            client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
                uri, serverSelectionTimeoutMS=500
            )
            client.admin.command("ping")
            client.close()
        except pymongo.errors.PyMongoError:
            return False
        return True

    return ready


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mongo]:
    """``pyacemaker launchpad-server`` (secantusdb) on a free loopback port, storage in a
    temporary folder (or a real MongoDB)."""
    database = f"pyace_test_{uuid.uuid4().hex[:8]}"
    given = os.environ.get(MONGODB_URI_ENV)
    if given:
        from pymongo.uri_parser import parse_uri

        host, port = parse_uri(given)["nodelist"][0]
        wait_for(_mongo_ready(given), f"MongoDB at {given}", [], [])
        yield Mongo(host, port, database, given)
        return
    root = tmp_path_factory.mktemp("secantusdb")
    port = free_port()
    log = root / "server.log"
    with log.open("wb") as out:
        # the launchpad server pyacemaker documents: secantusdb with atomic findAndModify
        cmd = [_tool("pyacemaker"), "launchpad-server", "--port", str(port)]
        cmd += ["--storage", str(root / "data")]
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    uri = f"mongodb://127.0.0.1:{port}"
    try:
        wait_for(_mongo_ready(uri), "secantusdb", [log], [proc])
        yield Mongo("127.0.0.1", port, database, uri)
    finally:
        stop([proc])


# --- Slurm + munge on one node ------------------------------------------------------------

SLURM_CONF = """\
ClusterName=pyacetest
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={munge_socket}
CryptoType=crypto/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=30
KillWait=5
NodeName=localhost CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
"""


@dataclass
class Slurm:
    """A running one-node Slurm: the environment its clients need (``SLURM_CONF``)."""

    root: Path
    env: dict[str, str]


def _start_munge(root: Path) -> tuple[subprocess.Popen[bytes], Path]:
    munge = root / "munge"
    munge.mkdir(mode=0o700)
    key = munge / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    sock_dir = root / "munge-run"
    sock_dir.mkdir(mode=0o755)
    sock = sock_dir / "munge.socket"
    cmd = [_tool("munged"), "-F", "--force", f"--key-file={key}", f"--socket={sock}"]
    cmd += [f"--pid-file={munge}/munged.pid", f"--seed-file={munge}/munged.seed"]
    cmd += [f"--log-file={munge}/munged.log"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_for(sock.exists, "munged", [munge / "munged.log"], [proc])
    return proc, sock


def _slurm_ready(env: dict[str, str]) -> Callable[[], bool]:
    def ready() -> bool:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True, check=False
        )
        return out.returncode == 0 and out.stdout.strip() in {"idle", "mix", "alloc"}

    return ready


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slurm]:
    """munged + slurmctld + slurmd (root, one node ``localhost``, 2 CPUs) under a tmp folder."""
    root = tmp_path_factory.mktemp("slurm")
    root.chmod(0o755)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        munged, sock = _start_munge(root)
        procs.append(munged)
        for sub in ("state", "spool"):
            (root / sub).mkdir()
        conf = root / "slurm.conf"
        conf.write_text(
            SLURM_CONF.format(
                root=root, munge_socket=sock, ctld_port=free_port(), d_port=free_port()
            )
        )
        env = {**os.environ, "SLURM_CONF": str(conf)}
        logs = [root / "slurmctld.log", root / "slurmd.log"]
        for cmd in ([_tool("slurmctld"), "-D", "-i"], [_tool("slurmd"), "-D", "-N", "localhost"]):
            procs.append(
                subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            )
        wait_for(_slurm_ready(env), "slurm (slurmctld + slurmd)", logs, procs)
        yield Slurm(root, env)
    finally:
        stop(procs)


# --- a FireWorks site on the test server ---------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
END_STATES = {"COMPLETED", "FIZZLED", "DEFUSED"}


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of worker processes: this repository importable, one thread per engine."""
    path = os.pathsep.join([str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")])
    bins = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {"PYTHONPATH": path, "PATH": bins, "OMP_NUM_THREADS": "1"}  # rlaunch on PATH in jobs
    return {**os.environ, **env, **(extra or {})}


@dataclass
class FireWorksSite:
    """Config files written by ``pyacemaker fw-config`` for one fresh database, and workers."""

    folder: Path
    mongo: Mongo
    database: str
    procs: list[subprocess.Popen[bytes]]

    @property
    def launchpad_file(self) -> Path:
        """``my_launchpad.yaml`` of this site."""
        return self.folder / "my_launchpad.yaml"

    @property
    def env(self) -> dict[str, str]:
        """What a worker needs: the job store file and an importable pyacemaker."""
        return worker_env({"JOBFLOW_CONFIG_FILE": str(self.folder / "jobflow.yaml")})

    def launchpad(self) -> Any:
        """A connected FireWorks LaunchPad."""
        from pyacemaker.cluster.config import load_launchpad

        return load_launchpad(self.launchpad_file)

    def db(self) -> Any:
        """The pymongo database of launchpad and job store."""
        import pymongo

        return pymongo.MongoClient(self.mongo.uri)[self.database]

    def rlaunch(self, *args: str, fworker: str = "my_fworker") -> subprocess.Popen[bytes]:
        """Start ``rlaunch -c <folder> -w <fworker>.yaml ARGS`` in its own process group."""
        launches = self.folder / "launches"
        launches.mkdir(exist_ok=True)
        cmd = [_tool("rlaunch"), "-c", str(self.folder), "-w", str(self.folder / f"{fworker}.yaml")]
        log = (self.folder / f"rlaunch_{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [*cmd, *args],
            cwd=launches,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def wait_workflows(self, timeout: float = 300) -> list[dict[str, Any]]:
        """Wait until every workflow has ended; fail unless all COMPLETED (with worker logs)."""
        deadline = time.monotonic() + timeout
        workflows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            workflows = list(self.db()["workflows"].find({}, {"state": 1, "name": 1}))
            if workflows and all(w["state"] in END_STATES for w in workflows):
                break
            time.sleep(0.5)
        if workflows and all(w["state"] == "COMPLETED" for w in workflows):
            return workflows
        logs = "\n".join(p.read_text()[-3000:] for p in self.folder.glob("rlaunch_*.log"))
        pytest.fail(f"workflows {[(w['name'], w['state']) for w in workflows]}:\n{logs}")


def make_site(mongo: Mongo, folder: Path) -> FireWorksSite:
    """Config files for a fresh database on the test server, and its reset launchpad."""
    from pyacemaker.cluster.config import ServerSettings, write_config_files

    database = f"{mongo.database}_{uuid.uuid4().hex[:6]}"
    server = ServerSettings(host=mongo.host, port=mongo.port, database=database)
    write_config_files(folder, server)
    site = FireWorksSite(folder, mongo, database, [])
    site.launchpad().reset("", require_password=False)
    return site


def stop_workers(site: FireWorksSite) -> None:
    """SIGKILL the workers this site started that still run (by their process group)."""
    for proc in site.procs:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()


@pytest.fixture
def fireworks_site(mongo_server: Mongo, tmp_path: Path) -> Iterator[FireWorksSite]:
    """A fresh database on the test server with its launchpad, job store and fworker files."""
    site = make_site(mongo_server, tmp_path / "fw_config")
    try:
        yield site
    finally:
        stop_workers(site)
