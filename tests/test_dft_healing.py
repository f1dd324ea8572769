"""The DFT factory: input sets, self-healing of real pw.x failures, task documents, Makers.

Every healing test makes pw.x really fail on a tiny cell (crafted input, or a real
signal) and checks that the handler meant for that failure fixed it. Each takes 1-3 s.
"""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import write
from jobflow import run_locally

from pyacemaker.data import ENERGY_KEY, STRESS_KEY
from pyacemaker.dft import (
    PwAttempt,
    PwParseError,
    PwTaskDoc,
    QESettings,
    StructureCheckError,
    check_structure,
    prepare_input,
    qe_oracle,
    read_pw_output,
    run_with_handlers,
)
from pyacemaker.dft.handlers import KilledHandler
from pyacemaker.dft.jobs import PwRelaxMaker, PwStaticMaker
from pyacemaker.oracle import label_dataset

PSEUDO_DIR = Path("/usr/share/espresso/pseudo")
DATA = Path(__file__).parent / "data"
needs_pw = pytest.mark.skipif(
    shutil.which("pw.x") is None or not (PSEUDO_DIR / "Si.pbe-rrkj.UPF").is_file(),
    reason="apt-get install quantum-espresso quantum-espresso-data",
)


def si2() -> Atoms:
    return bulk("Si", "diamond", a=5.45)


def si_settings(**changes: object) -> QESettings:
    """NC Si at 20 Ry, 3x3x3 k; smearing so that the crafted failures reproduce exactly."""
    base = {
        "pseudopotentials": {"Si": "Si.pbe-rrkj.UPF"},
        "ecutwfc": 20.0,
        "kspacing": 0.8,
        "occupations": "smearing",
    }
    return QESettings.model_validate({**base, **changes})


# --- recipes that make pw.x really fail (also used by benchmarks/dft_healing.py) ---------

Failure = Callable[[int, Path], tuple[Atoms, QESettings]]


def _rattled_si(seed: int, repeat: tuple[int, int, int] = (1, 1, 1)) -> Atoms:
    atoms = si2() * repeat
    atoms.rattle(0.03, seed=seed)
    return atoms


def scf_failure(seed: int, _folder: Path) -> tuple[Atoms, QESettings]:
    """electron_maxstep=1 with a tight threshold: pw.x stops with status 2."""
    return _rattled_si(seed), si_settings(electron_maxstep=1, conv_thr=1e-12)


def cholesky_failure(seed: int, _folder: Path) -> tuple[Atoms, QESettings]:
    """A near-singular Davidson subspace: threshold far below machine precision, ndim 8.

    pw.x stops in cdiaghg with 'S matrix not positive definite'; CG does not build
    that subspace.
    """
    extra = {"diago_thr_init": 1e-16, "diago_david_ndim": 8}
    return _rattled_si(seed), si_settings(conv_thr=1e-14, extra_input=extra)


def eigenvalue_failure(seed: int, _folder: Path) -> tuple[Atoms, QESettings]:
    """CG allowed one iteration: pw.x stops with 'too many bands are not converged'."""
    extra = {"diagonalization": "cg", "diago_cg_maxiter": 1}
    return _rattled_si(seed), si_settings(extra_input=extra)


def charge_failure(seed: int, _folder: Path) -> tuple[Atoms, QESettings]:
    """Ultrasoft O at ecutrho = 4 x ecutwfc: pw.x finishes with ~0.08 e of negative density."""
    o2 = Atoms("O2", positions=[[0, 0, 0], [1.2, 0, 0]], cell=[6, 6, 6], pbc=True)
    o2.rattle(0.03, seed=seed)
    settings = QESettings(
        pseudopotentials={"O": "O.pbe-rrkjus.UPF"},
        ecutwfc=25.0,
        ecutrho=100.0,
        kspacing=5.0,
        occupations="smearing",
    )
    return o2, settings


def killed_failure(seed: int, folder: Path) -> tuple[Atoms, QESettings]:
    """Si4 with a pw.x command whose first run in a folder gets a real SIGTERM after 0.3 s."""
    script = folder / "pw_killed_once.sh"
    script.write_text(
        "#!/bin/sh\n"
        "if [ ! -e killed_once ]; then touch killed_once; "
        'exec timeout -s TERM --preserve-status 0.3 pw.x "$@"; fi\n'
        'exec pw.x "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return _rattled_si(seed, (2, 1, 1)), si_settings(command=str(script))


FAILURES: dict[str, tuple[Failure, str]] = {
    "SCF not converged": (scf_failure, "ScfConvergenceHandler"),
    "S matrix / Cholesky": (cholesky_failure, "CholeskyHandler"),
    "eigenvalues not converged": (eigenvalue_failure, "EigenvalueHandler"),
    "negative charge density": (charge_failure, "ChargeHandler"),
    "killed by a signal": (killed_failure, "KilledHandler"),
}


def heal(failure: Failure, folder: Path) -> tuple[PwTaskDoc, list[PwAttempt]]:
    return run_with_handlers(*failure(0, folder), folder / "calc")


def healed_by(attempts: list[PwAttempt], handler: str, kind: str | None) -> dict[str, Any]:
    """Assert: first run failed as ``kind``, ``handler`` corrected it, the rerun was clean."""
    first, last = attempts[0], attempts[-1]
    assert first.error_kind == kind
    assert first.correction is not None and first.correction.handler == handler
    assert last.error is None and last.correction is None
    return first.correction.changes


# --- the five failure modes, provoked for real ------------------------------------------


@needs_pw
def test_scf_not_converged_is_healed(tmp_path: Path) -> None:
    task, attempts = heal(scf_failure, tmp_path)
    assert task.state == "successful" and task.converged
    changes = healed_by(attempts, "ScfConvergenceHandler", "scf_not_converged")
    assert changes == {"electron_maxstep": 200}
    assert "convergence NOT achieved" in attempts[0].correction.errors[0]  # type: ignore[union-attr]
    assert task.settings.electron_maxstep == 200 and task.n_corrections == 1


@needs_pw
def test_cholesky_failure_is_healed(tmp_path: Path) -> None:
    task, attempts = heal(cholesky_failure, tmp_path)
    assert task.state == "successful"
    assert healed_by(attempts, "CholeskyHandler", "pw_error") == {"diagonalization": "cg"}
    assert "S matrix not positive definite" in str(attempts[0].error)
    assert task.input["electrons"]["diagonalization"] == "cg"


@needs_pw
def test_unconverged_eigenvalues_are_healed(tmp_path: Path) -> None:
    task, attempts = heal(eigenvalue_failure, tmp_path)
    assert task.state == "successful"
    assert healed_by(attempts, "EigenvalueHandler", "pw_error") == {"diago_cg_maxiter": 100}
    assert "too many bands are not converged" in str(attempts[0].error)


@needs_pw
def test_negative_charge_density_is_healed(tmp_path: Path) -> None:
    """A run that 'succeeds' with a corrupted density is a failure too: the handler reads
    the last SCF iteration and asks for a denser charge grid (8 x ecutwfc)."""
    task, attempts = heal(charge_failure, tmp_path)
    assert task.state == "successful"
    assert healed_by(attempts, "ChargeHandler", None) == {"ecutrho": 200.0}
    assert "negative charge density" in attempts[0].correction.errors[0]  # type: ignore[union-attr]
    assert task.settings.ecutrho == 200.0


@needs_pw
def test_run_killed_by_a_signal_is_rerun(tmp_path: Path) -> None:
    """SIGTERM from outside (as a scheduler sends): exit status 143, output truncated."""
    task, attempts = heal(killed_failure, tmp_path)
    assert task.state == "successful"
    assert healed_by(attempts, "KilledHandler", "killed") == {"restart_mode": "from_scratch"}
    assert attempts[0].exit_status == 143


@needs_pw
def test_walltime_kills_escalate_then_end_in_a_failed_record(tmp_path: Path) -> None:
    """A 0.05 s walltime: killed (SIGKILL) three times, walltime doubled twice, then given up."""
    task, attempts = run_with_handlers(si2() * (2, 1, 1), si_settings(walltime=0.05), tmp_path)
    assert task.state == "failed" and task.energy is None
    assert [a.error_kind for a in attempts] == ["killed"] * 3
    assert [a.correction.changes["walltime"] for a in attempts[:2]] == [0.1, 0.2]  # type: ignore[union-attr]
    assert attempts[-1].correction is None
    assert "killed" in str(task.error) and task.structure["symbols"] == ["Si"] * 4
    saved = json.loads((tmp_path / "task.json").read_text())
    assert saved["state"] == "failed" and len(saved["attempts"]) == 3


# --- task documents and output parsing ----------------------------------------------------


@needs_pw
def test_task_document_records_provenance(tmp_path: Path) -> None:
    task, _ = run_with_handlers(si2(), si_settings(), tmp_path)
    assert task.state == "successful" and task.converged
    assert task.energy is not None and task.energy < 0
    assert np.asarray(task.forces).shape == (2, 3) and len(task.stress or []) == 6
    assert task.pw_version and task.pw_version.startswith("6.")
    (pseudo,) = task.pseudopotentials
    assert pseudo.file.endswith("Si.pbe-rrkj.UPF") and len(pseudo.md5) == 32
    assert task.kpoints == (3, 3, 3) and task.n_kpoints is not None and task.n_kpoints > 1
    assert task.wall_time is not None and task.wall_time > 0
    assert task.input["control"]["tstress"] is True and task.n_corrections == 0


def test_truncated_and_garbage_output_give_clear_errors(tmp_path: Path) -> None:
    """tests/data/pw_si4_killed_at_walltime.pwo is the genuine output of a pw.x 6.7 run of
    Si4 killed by its walltime (SIGKILL) in the middle of the first SCF iteration."""
    shutil.copy(DATA / "pw_si4_killed_at_walltime.pwo", tmp_path / "espresso.pwo")
    with pytest.raises(PwParseError, match=r"truncated: pw\.x did not finish"):
        read_pw_output(tmp_path)
    (tmp_path / "espresso.pwo").write_text("\x00garbage\nnot a pw.x file\n")
    with pytest.raises(PwParseError, match=r"not pw\.x output"):
        read_pw_output(tmp_path)
    with pytest.raises(PwParseError, match=r"no pw\.x output"):
        read_pw_output(tmp_path / "nowhere")
    (tmp_path / "espresso.exit").write_text("-9 walltime 0.5\n")
    assert KilledHandler().check(tmp_path)


# --- input sets ---------------------------------------------------------------------------


def test_input_set_occupations_and_spin() -> None:
    """Si: fixed occupations; Al and Cu: smearing; Fe and Ni: spin-polarised, smeared."""
    settings = QESettings(ecutwfc=30, ecutrho=240).with_elements(["Si", "Al", "Cu", "Fe", "Ni"])
    chosen = {}
    for name, atoms in {
        "Si": si2(),
        "Al": bulk("Al", "fcc", a=4.05),
        "Cu": bulk("Cu", "fcc", a=3.6),
        "Fe": bulk("Fe", "bcc", a=2.87),
        "Ni": bulk("Ni", "fcc", a=3.52),
    }.items():
        work, inputs = prepare_input(atoms, settings)
        chosen[name] = (inputs.namelists["system"]["occupations"], inputs.magnetization)
        assert inputs.namelists["control"]["tprnfor"] and inputs.namelists["control"]["tstress"]
        assert not inputs.isolated and inputs.kpts is not None
        if inputs.magnetization:
            assert np.all(work.get_initial_magnetic_moments() > 0)
    assert chosen == {
        "Si": ("fixed", {}),
        "Al": ("smearing", {}),
        "Cu": ("smearing", {}),
        "Fe": ("smearing", {"Fe": 0.4}),
        "Ni": ("smearing", {"Ni": 0.2}),
    }
    cubic = bulk("Si", "diamond", a=5.43, cubic=True)
    cubic.rattle(0.05, seed=1)
    cubic.set_cell(cubic.cell * 1.04, scale_atoms=True)  # strained and rattled: still gapped
    assert prepare_input(cubic, settings)[1].namelists["system"]["occupations"] == "fixed"
    del cubic[0]  # a vacancy: dangling bonds, states in the gap
    assert prepare_input(cubic, settings)[1].namelists["system"]["occupations"] == "smearing"
    _, forced = prepare_input(si2(), settings.model_copy(update={"occupations": "smearing"}))
    assert forced.namelists["system"]["degauss"] == settings.degauss
    _, no_spin = prepare_input(
        bulk("Fe", "bcc", a=2.87), settings.model_copy(update={"spin_polarized": False})
    )
    assert no_spin.magnetization == {}


def test_input_set_vacuum_handling() -> None:
    settings = QESettings(ecutwfc=20, ecutrho=80, kspacing=0.5).with_elements(["Si"])
    slab = bulk("Si", "diamond", a=5.43, cubic=True)
    slab.center(vacuum=6.0, axis=2)
    _, slab_inputs = prepare_input(slab, settings)
    assert slab_inputs.kpts is not None and slab_inputs.kpts[2] == 1 and not slab_inputs.isolated
    cluster = _si_cluster()
    work, inputs = prepare_input(cluster, settings)
    assert inputs.isolated and inputs.kpts is None
    assert inputs.namelists["system"]["assume_isolated"] == "mt"
    assert inputs.namelists["system"]["occupations"] == "smearing"
    assert len(cluster) == 5
    extent = np.ptp(cluster.positions, axis=0)
    assert np.all(work.cell.lengths() >= 2 * extent) and np.all(work.cell.lengths() < 15)


def _si_cluster() -> Atoms:
    """A Si atom and its four neighbours cut out of the crystal, 7 Å of vacuum around."""
    crystal = bulk("Si", "diamond", a=5.43, cubic=True) * (2, 2, 2)
    middle = int(
        np.argmin(np.linalg.norm(crystal.positions - crystal.cell.sum(axis=0) / 2, axis=1))
    )
    near = np.linalg.norm(crystal.positions - crystal.positions[middle], axis=1) < 2.5
    cluster = Atoms(crystal.symbols[near], positions=crystal.positions[near], pbc=True)
    cluster.center(vacuum=7.0)
    return cluster


def test_bad_input_rejected_before_pw_starts(tmp_path: Path) -> None:
    settings = QESettings(pseudopotentials={"Si": "Si.pbe-rrkj.UPF"}, ecutwfc=20.0)
    ghost = si2()
    ghost.numbers[1] = 0
    with pytest.raises(StructureCheckError, match="unknown element X"):
        check_structure(ghost, settings)
    with pytest.raises(StructureCheckError, match="no atoms"):
        run_with_handlers(Atoms(cell=np.eye(3) * 5, pbc=True), settings, tmp_path)
    assert not (tmp_path / "espresso.pwi").exists()


# --- real physics: spin and clusters ----------------------------------------------------


@needs_pw
def test_iron_is_spin_polarised(tmp_path: Path) -> None:
    settings = QESettings(
        pseudopotentials={"Fe": "Fe.pbe-spn-rrkjus_psl.0.2.1.UPF"},
        ecutwfc=25.0,
        ecutrho=200.0,
        kspacing=1.0,
        degauss=0.02,  # 0.01 Ry on this 4x4x4 grid needs four SCF corrections (40 s)
    )
    task, attempts = run_with_handlers(bulk("Fe", "bcc", a=2.87), settings, tmp_path)
    assert task.state == "successful" and len(attempts) == 1
    assert task.input["system"]["nspin"] == 2
    assert task.input["system"]["starting_magnetization(1)"] == pytest.approx(0.4)
    output = (tmp_path / "espresso.pwo").read_text()
    total = float(output.rsplit("total magnetization", 1)[1].split("=")[1].split()[0])
    assert total > 1.5  # ferromagnetic bcc Fe: about 2.2-2.5 Bohr magnetons per atom


@needs_pw
def test_cut_out_cluster_runs_gamma_only_isolated(tmp_path: Path) -> None:
    settings = QESettings(pseudopotentials={"Si": "Si.pbe-rrkj.UPF"}, ecutwfc=15.0, kspacing=0.3)
    (label,) = qe_oracle(settings).label([_si_cluster()], tmp_path).labelled
    pwi = (tmp_path / "calc_00000" / "espresso.pwi").read_text()
    assert "K_POINTS gamma" in pwi and "assume_isolated  = 'mt'" in pwi
    assert np.isfinite(label.info[ENERGY_KEY]) and STRESS_KEY not in label.info
    assert label.info["heal_corrections"] == 0


# --- labelling and Makers ---------------------------------------------------------------


@needs_pw
def test_label_dataset_records_healing(tmp_path: Path) -> None:
    write(tmp_path / "in.xyz", [si2()])
    doc = label_dataset(
        qe_oracle(si_settings(electron_maxstep=1, conv_thr=1e-12)),
        str(tmp_path / "in.xyz"),
        str(tmp_path / "out"),
        "dft",
    )
    assert (doc.n_labelled, doc.n_failed, doc.n_healed, doc.n_corrections) == (1, 0, 1, 1)
    tasks = json.loads(Path(str(doc.tasks)).read_text())
    assert Path(str(doc.tasks)).parent == Path(doc.dataset).parent
    assert tasks[0]["attempts"][0]["correction"]["handler"] == "ScfConvergenceHandler"


@needs_pw
def test_static_maker_retries_as_new_job_then_records_failure(tmp_path: Path) -> None:
    """Fe atoms 0.4 Å apart (min_distance=0): the ultrasoft S matrix is really not
    positive definite, so every diagonaliser fails. Job 1 tries david, cg, ppcg; job 2
    (its replacement, from ppcg) has nothing left and returns the failed record."""
    iron = bulk("Fe", "bcc", a=2.87, cubic=True)
    iron.positions[1] = iron.positions[0] + [0.4, 0, 0]
    write(tmp_path / "fe.xyz", iron)
    settings = QESettings(
        pseudopotentials={"Fe": "Fe.pbe-spn-rrkjus_psl.0.2.1.UPF"},
        ecutwfc=25.0,
        ecutrho=200.0,
        kspacing=1.0,
        min_distance=0.0,
        spin_polarized=False,
    )
    flow_job = PwStaticMaker(settings=settings).make(str(tmp_path / "fe.xyz"), str(tmp_path / "w"))
    responses = run_locally(flow_job, ensure_success=False)
    task = responses[flow_job.uuid][2].output
    assert task.state == "failed" and "S matrix not positive definite" in task.error
    assert task.settings.extra_input["electrons"]["diagonalization"] == "ppcg"
    assert len(task.attempts) == 1 and task.structure["symbols"] == ["Fe", "Fe"]
    first = json.loads((tmp_path / "w" / "attempt_1" / "task.json").read_text())
    assert [a["correction"] and a["correction"]["changes"] for a in first["attempts"]] == [
        {"diagonalization": "cg"},
        {"diagonalization": "ppcg"},
        None,
    ]


def test_static_maker_records_bad_input_without_running(tmp_path: Path) -> None:
    write(tmp_path / "og.xyz", Atoms("Og", cell=np.eye(3) * 4, pbc=True))
    flow_job = PwStaticMaker().make(str(tmp_path / "og.xyz"), str(tmp_path / "w"))
    task = run_locally(flow_job, ensure_success=True)[flow_job.uuid][1].output
    assert task.state == "failed" and task.attempts == []
    assert "PseudopotentialNotFoundError" in task.error and "Og" in task.error
    assert not (tmp_path / "w").exists()


@needs_pw
def test_relax_maker_relaxes(tmp_path: Path) -> None:
    rattled = si2()
    rattled.positions[0] += [0.08, -0.05, 0.03]
    write(tmp_path / "si.xyz", rattled)
    flow_job = PwRelaxMaker(settings=si_settings()).make(str(tmp_path / "si.xyz"), str(tmp_path))
    task = run_locally(flow_job, ensure_success=True)[flow_job.uuid][1].output
    assert task.state == "successful" and task.input["control"]["calculation"] == "relax"
    assert np.abs(task.forces).max() < 0.05
    moved = np.asarray(task.final_structure["positions"]) - rattled.positions
    assert np.abs(moved).max() > 0.01
