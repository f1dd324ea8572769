"""Quantum ESPRESSO engine: real pw.x runs on 2-atom Si (about a second each)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from pydantic import ValidationError

from pyacemaker.data import ENERGY_KEY, FORCES_KEY, SOURCE_KEY, STRESS_KEY
from pyacemaker.dft import (
    PseudopotentialNotFoundError,
    PwError,
    QESettings,
    StructureCheckError,
    check_structure,
    doctor_check,
    find_pseudopotential,
    kpoint_grid,
    pw_version,
    qe_oracle,
    read_upf_header,
    suggest_cutoffs,
)
from pyacemaker.dft.qe import diagnose_pw_failure, nest_pw_input, pw_input

PSEUDO_DIR = Path("/usr/share/espresso/pseudo")
needs_pseudos = pytest.mark.skipif(
    not (PSEUDO_DIR / "Si.pbe-rrkj.UPF").is_file(),
    reason="apt-get install quantum-espresso-data",
)
needs_pw = pytest.mark.skipif(
    shutil.which("pw.x") is None or not PSEUDO_DIR.is_dir(),
    reason="apt-get install quantum-espresso quantum-espresso-data",
)


def si2(a: float = 5.45) -> Atoms:
    return bulk("Si", "diamond", a=a)


@pytest.fixture(scope="module")
def si_settings() -> QESettings:
    """Cheap but physical: NC PBE Si, 20 Ry, 3x3x3 k for the 2-atom cell (~0.5 s CPU)."""
    return QESettings(pseudopotentials={"Si": "Si.pbe-rrkj.UPF"}, ecutwfc=20.0, kspacing=0.8)


# --- pw.x runs --------------------------------------------------------------------------


@needs_pw
def test_si2_scf_labels_energy_forces_stress(si_settings: QESettings, tmp_path: Path) -> None:
    rattled = si2()
    rattled.positions[0] += [0.05, -0.03, 0.02]
    result = qe_oracle(si_settings).label([si2(), rattled], tmp_path)

    assert result.failed == []
    ideal, moved = result.labelled
    assert math.isfinite(ideal.info[ENERGY_KEY]) and ideal.info[ENERGY_KEY] < 0
    assert np.abs(ideal.arrays[FORCES_KEY]).max() < 1e-3
    forces = moved.arrays[FORCES_KEY]
    assert np.abs(forces).max() > 0.05
    assert np.abs(forces.sum(axis=0)).max() < 1e-3
    assert ideal.info[STRESS_KEY].shape == (6,)
    source = ideal.info[SOURCE_KEY]
    assert "pw.x" in source and "Si.pbe-rrkj.UPF" in source and "ecutwfc=20Ry" in source
    assert "kspacing=0.8" in source
    assert "K_POINTS automatic\n3 3 3" in (tmp_path / "calc_00000" / "espresso.pwi").read_text()
    # disk_io='nowf': a label leaves only input, output, stderr, exit status and task doc
    assert sorted(p.name for p in (tmp_path / "calc_00000").iterdir()) == [
        "espresso.err",
        "espresso.exit",
        "espresso.pwi",
        "espresso.pwo",
        "task.json",
    ]


@needs_pw
def test_strained_lattice_is_higher_in_energy(si_settings: QESettings, tmp_path: Path) -> None:
    cells = [si2(5.45), si2(5.45 * 0.96), si2(5.45 * 1.04)]
    energies = [s.info[ENERGY_KEY] for s in qe_oracle(si_settings).label(cells, tmp_path).labelled]
    assert len(energies) == 3
    assert energies[0] < energies[1] and energies[0] < energies[2]


@needs_pw
def test_force_is_minus_energy_gradient(si_settings: QESettings, tmp_path: Path) -> None:
    h = 0.01
    base = si2()
    base.positions[0] += [0.06, 0.02, -0.04]
    minus, plus = base.copy(), base.copy()
    minus.positions[0, 0] -= h
    plus.positions[0, 0] += h
    labelled = qe_oracle(si_settings).label([base, minus, plus], tmp_path).labelled
    force_x = labelled[0].arrays[FORCES_KEY][0, 0]
    finite_difference = -(labelled[2].info[ENERGY_KEY] - labelled[1].info[ENERGY_KEY]) / (2 * h)
    assert abs(force_x) > 0.1
    assert finite_difference == pytest.approx(force_x, abs=5e-3, rel=1e-2)


@needs_pw
def test_one_kpoint_runs_gamma_only(tmp_path: Path) -> None:
    settings = QESettings(pseudopotentials={"Si": "Si.pbe-rrkj.UPF"}, ecutwfc=20.0, kspacing=5.0)
    (labelled,) = qe_oracle(settings).label([si2()], tmp_path).labelled
    assert math.isfinite(labelled.info[ENERGY_KEY])
    assert "K_POINTS gamma" in (tmp_path / "calc_00000" / "espresso.pwi").read_text()


@needs_pw
def test_unconverged_scf_is_reported_not_raised(tmp_path: Path) -> None:
    """With healing off (no handlers) the failure is recorded; tests/test_dft_healing.py
    shows the same input healed by the default handlers."""
    settings = QESettings(
        pseudopotentials={"Si": "Si.pbe-rrkj.UPF"},
        ecutwfc=20.0,
        kspacing=1.0,
        electron_maxstep=1,
        conv_thr=1e-14,
    )
    result = qe_oracle(settings, handlers=list).label([si2()], tmp_path)
    assert result.labelled == []
    (failure,) = result.failed
    assert failure.index == 0
    assert failure.error.startswith("PwError: SCF not converged after 1 iterations")
    assert "electron_maxstep" in failure.error


@needs_pw
def test_overlapping_atoms_rejected_before_pw_runs(si_settings: QESettings, tmp_path: Path) -> None:
    crushed = si2()
    crushed.positions[1] = crushed.positions[0] + [0.2, 0.0, 0.0]
    result = qe_oracle(si_settings).label([crushed], tmp_path)
    (failure,) = result.failed
    assert "StructureCheckError" in failure.error
    assert "atoms 0 (Si) and 1 (Si) are 0.200" in failure.error
    assert not any(p.name.startswith("espresso") for p in tmp_path.rglob("*"))


@needs_pw
def test_pw_version_and_doctor() -> None:
    assert pw_version("pw.x").startswith("6.")
    ok, message = doctor_check()
    assert ok, message
    assert "Si2 SCF" in message


def test_doctor_names_the_fix_when_pw_is_missing() -> None:
    ok, message = doctor_check(command="no-such-pw.x")
    assert not ok
    assert "apt-get install quantum-espresso quantum-espresso-data" in message
    with pytest.raises(PwError, match="apt-get install"):
        pw_version("no-such-pw.x")


# --- pre-flight checks (no pw.x) -------------------------------------------------------


@needs_pseudos
def test_check_structure_rejects_what_pw_cannot_run(si_settings: QESettings) -> None:
    check_structure(si2(), si_settings)
    with pytest.raises(StructureCheckError, match=r"element C .*dft\.pseudopotentials\.C"):
        check_structure(bulk("SiC", "zincblende", a=4.36), si_settings)
    with pytest.raises(StructureCheckError, match="no 3-D cell"):
        check_structure(Atoms("Si2", positions=[[0, 0, 0], [2.3, 0, 0]], pbc=True), si_settings)
    check_structure(Atoms("Si2", positions=[[0, 0, 0], [2.3, 0, 0]]), si_settings)  # a molecule
    with pytest.raises(StructureCheckError, match="no atoms"):
        check_structure(Atoms(cell=np.eye(3) * 5, pbc=True), si_settings)
    tiny = Atoms("Si", cell=np.eye(3) * 0.4, pbc=True)
    with pytest.raises(StructureCheckError, match="own periodic image"):
        check_structure(tiny, si_settings)
    bad_file = si_settings.model_copy(update={"pseudopotentials": {"Si": "Si.missing.UPF"}})
    with pytest.raises(PseudopotentialNotFoundError, match=r"Si\.missing\.UPF"):
        check_structure(si2(), bad_file)


# --- k-points ---------------------------------------------------------------------------


def test_kpoint_grid_same_density_for_supercell() -> None:
    cell = bulk("Cu", "fcc", a=3.6, cubic=True)
    for spacing in (0.15, 0.2, 0.25, 0.3, 0.5):
        small = np.array(kpoint_grid(cell, spacing))
        large = np.array(kpoint_grid(cell * (2, 2, 2), spacing))
        assert np.all((2 * large - small >= 0) & (2 * large - small <= 1))
        for atoms, grid in ((cell, small), (cell * (2, 2, 2), large)):
            lengths = 2 * np.pi * np.linalg.norm(atoms.cell.reciprocal(), axis=1)
            assert np.all(lengths / grid <= spacing + 1e-9)  # spacing achieved everywhere
    # |b| = 2π/3.6 = 1.745 1/Å: 0.25 → ceil(6.98) = 7
    assert kpoint_grid(cell, 0.25) == (7, 7, 7)


def test_kpoint_grid_non_periodic_directions_get_one() -> None:
    slab = bulk("Cu", "fcc", a=3.6, cubic=True)
    slab.pbc = (True, True, False)
    assert kpoint_grid(slab, 0.25) == (7, 7, 1)
    molecule = Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]], cell=[8, 8, 8], pbc=False)
    assert kpoint_grid(molecule, 0.1) == (1, 1, 1)
    with pytest.raises(ValueError, match="positive"):
        kpoint_grid(slab, 0.0)


# --- pseudopotentials and cutoffs ------------------------------------------------------


@needs_pseudos
def test_find_pseudopotential_prefers_requested_functional() -> None:
    name = find_pseudopotential("Si", PSEUDO_DIR)
    assert (PSEUDO_DIR / name).is_file()
    assert read_upf_header(PSEUDO_DIR / name).functional == "pbe"
    assert ".rel-" not in name and name.startswith("Si.")
    assert find_pseudopotential("Si", PSEUDO_DIR, functional="pz") == "Si.pz-vbc.UPF"
    assert find_pseudopotential("Cu", PSEUDO_DIR) == "Cu.pbe-kjpaw.UPF"
    assert find_pseudopotential("H", PSEUDO_DIR) == "H.pbe-kjpaw.UPF"  # never the bare 1/r


@needs_pseudos
def test_find_pseudopotential_errors_name_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(PseudopotentialNotFoundError) as info:
        find_pseudopotential("Xx", PSEUDO_DIR)
    message = str(info.value)
    assert "Xx" in message and str(PSEUDO_DIR) in message
    assert "Si" in message  # lists the elements that do exist there
    assert "dft.pseudopotentials.Xx" in message and "dft.pseudo_dir" in message

    missing = tmp_path / "nowhere"
    with pytest.raises(PseudopotentialNotFoundError, match=r"Si: folder .*nowhere does not exist"):
        find_pseudopotential("Si", missing)

    (tmp_path / "Si.bhs").write_text("not a UPF")
    with pytest.raises(PseudopotentialNotFoundError, match=r"files named for Si there: Si\.bhs"):
        find_pseudopotential("Si", tmp_path)


@needs_pseudos
def test_suggest_cutoffs() -> None:
    wfc, rho = suggest_cutoffs({"Si": "Si.pbe-rrkj.UPF"}, PSEUDO_DIR)
    assert 20 <= wfc <= 60 and rho == pytest.approx(4 * wfc)
    cu_wfc, cu_rho = suggest_cutoffs({"Cu": "Cu.pbe-kjpaw.UPF"}, PSEUDO_DIR)
    assert cu_wfc >= 45 and cu_rho >= 8 * cu_wfc  # PAW: header says 47 Ry
    both = suggest_cutoffs({"Si": "Si.pbe-rrkj.UPF", "Cu": "Cu.pbe-kjpaw.UPF"}, PSEUDO_DIR)
    assert both == (max(wfc, cu_wfc), max(rho, cu_rho))
    assert read_upf_header(PSEUDO_DIR / "Cu.pbe-kjpaw.UPF").kind == "PAW"
    # a UPF v1 file (line-based header) parses too
    v1 = read_upf_header(PSEUDO_DIR / "Pt.rel-pbe-n-rrkjus.UPF")
    assert (v1.element, v1.kind, v1.functional) == ("Pt", "US", "pbe")
    assert v1.wfc_cutoff == pytest.approx(27.476)
    with pytest.raises(PseudopotentialNotFoundError, match=r"dft\.pseudopotentials\.Si"):
        suggest_cutoffs({"Si": "Si.nothing.UPF"}, PSEUDO_DIR)


# --- settings ---------------------------------------------------------------------------


@needs_pseudos
def test_settings_resolve_pseudos_and_cutoffs() -> None:
    settings = QESettings().with_elements(["Si", "Cu"])
    assert settings.pseudopotentials["Cu"] == "Cu.pbe-kjpaw.UPF"
    resolved = settings.resolved()
    assert resolved.ecutwfc is not None and resolved.ecutrho is not None
    assert resolved.ecutrho >= 8 * resolved.ecutwfc
    own = QESettings(pseudopotentials={"Si": "Si.pbe-rrkj.UPF"}, ecutwfc=25).resolved()
    assert own.ecutrho == 100  # norm-conserving: 4x the wavefunction cutoff
    with pytest.raises(ValueError, match="pseudopotentials is empty"):
        QESettings().resolved()
    with pytest.raises(ValueError, match="below 4 x ecutwfc"):
        QESettings(ecutwfc=30, ecutrho=100).resolved()
    assert QESettings(pseudo_dir=Path("pseudos")).pseudo_dir.is_absolute()  # pw.x runs elsewhere


def test_settings_reject_typos_and_keep_forces_on() -> None:
    with pytest.raises(ValidationError):
        QESettings(ecutwfcc=30)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match=r"not a pw\.x input keyword"):
        QESettings(extra_input={"nspinn": 2})
    with pytest.raises(ValidationError, match="not chemical elements"):
        QESettings(pseudopotentials={"Xx": "Xx.UPF"})
    assert nest_pw_input({"nspin": 2, "electrons": {"diagonalization": "cg"}}) == {
        "system": {"nspin": 2},
        "electrons": {"diagonalization": "cg"},
    }
    settings = QESettings(
        ecutwfc=30,
        ecutrho=240,
        conv_thr=1e-9,
        extra_input={"tprnfor": False, "mixing_beta": 0.2, "starting_magnetization(1)": 0.5},
    )
    data = pw_input(settings, natoms=8)
    assert data["control"]["tprnfor"] is True and data["control"]["tstress"] is True
    assert data["electrons"]["conv_thr"] == pytest.approx(8e-9)
    assert data["electrons"]["mixing_beta"] == 0.2
    assert data["system"]["starting_magnetization(1)"] == 0.5


def test_diagnose_reads_pw_error_block(tmp_path: Path) -> None:
    (tmp_path / "espresso.pwo").write_text(
        " %%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%\n"
        "     Error in routine readpp (2):\n"
        "     file /x/Si.UPF not found\n"
        " %%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%\n"
    )
    error = diagnose_pw_failure(tmp_path, 1)
    assert error.kind == "pw_error"
    assert "readpp: file /x/Si.UPF not found" in str(error)
    (tmp_path / "espresso.pwo").write_text("garbage\n")
    crash = diagnose_pw_failure(tmp_path, 139)
    assert crash.kind == "crash" and "exit status 139" in str(crash)
