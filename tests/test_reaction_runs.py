"""A molecular run is a run like a crystal one: recorded, killed, resumed, failed, shown
(``pyacemaker status``, the dashboard).

The reaction is the smallest one the chain takes, H2 + H -> H + H2 (three atoms of one
element, so pacemaker sets up one block in seconds instead of the SN2 tutorial's 32);
its chemistry is not the point, the run's bookkeeping is. The oracle is the counting EMT
of the crystal resume test (tests/test_resume.py), so a test can tell how often each
structure went through it across a killed and a resumed process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pyacemaker.cli import main
from pyacemaker.dashboard import extract
from pyacemaker.dashboard.source import EmbeddedSource
from pyacemaker.runner import run_reaction
from pyacemaker.store import RunBook, job_state_table, job_states, job_store

from .test_resume import kill_when

H2_H = {  # the same three atoms in the same order; a bent complex, not a linear one
    "reactant": [(0.0, 0.0, 0.0), (0.75, 0.0, 0.0), (2.6, 0.4, 0.0)],
    "product": [(0.0, 0.0, 0.0), (1.85, 0.4, 0.0), (2.6, 0.4, 0.0)],
}
QUICK_REACTION: dict[str, Any] = {  # everything small: these runs only have to run through
    "sampling": {"temperatures": [300], "normal_modes": 4, "rattle_per_image": 2,
                 "md_steps": 20, "n_train": 20, "n_test": 5},
    "ace": {"n_functions": 8, "max_iter": 30, "max_rmse_fraction": 1e6},
    "validation": {"md_steps": 50},
}  # fmt: skip


def h3_config(tmp_path: Path, oracle: dict[str, Any]) -> Path:
    """A reaction config of H2 + H (doublet) in ``tmp_path``, writing into ``run/``."""
    for name, positions in H2_H.items():
        lines = [f"H {x} {y} {z}" for x, y, z in positions]
        (tmp_path / f"{name}.xyz").write_text("\n".join(["3", name, *lines]) + "\n")
    data = {"name": "h3", "seed": 1, "output_dir": str(tmp_path / "run"), "oracle": oracle,
            "reaction": {"reactant": "reactant.xyz", "product": "product.xyz",
                         "multiplicity": 2, "n_images": 5}, **QUICK_REACTION}  # fmt: skip
    path = tmp_path / "h3.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_failed_reaction_stage_is_recorded_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An oracle that cannot run fails the first stage; status names it and says why."""
    config = h3_config(tmp_path, {"engine": "tblite.ase.TBLite", "kwargs": {"method": "GFN9"}})
    with pytest.raises(RuntimeError, match="run h3 failed at stage sample_reaction"):
        run_reaction(config, tmp_path / "store")
    assert main(["status", str(tmp_path / "run")]) == 0  # the store named in run/run.json
    shown = capsys.readouterr().out
    assert shown.startswith("h3 [FAILED]")
    assert "sample_reaction FAILED" in " ".join(shown.split())
    assert "  label_train" in shown and "NOT RUN" in shown
    assert "why: run h3 failed at stage sample_reaction" in shown and "GFN9" in shown
    assert main(["submit", str(config)]) == 1  # FireWorks: crystal configs only, one line
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: reaction: ") and "use `pyacemaker run" in line


def test_killed_reaction_run_resumes_without_repeating_oracle_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed during the fit, then the same command: no structure is labelled twice."""
    log = tmp_path / "oracle_calls.log"
    config = h3_config(tmp_path, {"engine": "tests.counting.CountingEMT",
                                  "kwargs": {"log": str(log)}})  # fmt: skip
    out, store = tmp_path / "run", tmp_path / "store"
    kill_when(config, store, (out / "04_ace").is_dir, "the fit started")
    (killed,) = RunBook(store).all()
    assert "KILLED" in job_state_table([killed], store)[0]  # RUNNING, its process gone
    docs = job_store(store)
    docs.connect()
    states = dict(job_states(killed, docs))
    assert states["label_train"] == "COMPLETED" and states["ace_direct"] == "WAITING"
    calls_before = log.read_text()

    summary = run_reaction(config, store)  # resumes: only the fit onwards runs

    assert log.read_text() == calls_before  # the oracle was not called again
    assert summary.oracle_calls == len(calls_before.split())  # every counted call is logged
    assert Path(summary.potential["yace"]).is_file()
    assert main(["status", str(out)]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[0].startswith("h3 [COMPLETED]") and len(shown) == 1 + len(killed.jobs)
    assert all(line.endswith("COMPLETED") for line in shown[1:])
    assert run_reaction(config, store) == summary and log.read_text() == calls_before
    view = EmbeddedSource(store).view(killed.run_id)  # the dashboard reads the same run
    assert view is not None and {s.state for s in view.stages} == {"COMPLETED"}
    ledger = {row["purpose"]: row["calls"] for row in extract.dft_ledger(view)}
    assert ledger["label_train"] == 20 and ledger["sample_reaction (oracle)"] > 0
    assert extract.validation(view)["checks"] and set(extract.parity(view)) == {"path", "held-out"}
