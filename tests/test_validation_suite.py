"""Validators against known answers; the suite passes a good potential and fails broken ones.

EMT copper is the "DFT" reference here (milliseconds per call); the potentials under
test are EMT itself (must pass), EMT with every energy, force and stress scaled by a
factor (a uniformly softened force field: known phonon and elastic ratios) and EMT
with the sign of its forces flipped (energy unchanged, forces inconsistent with it).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from pyacemaker.config.schema import ValidationConfig
from pyacemaker.dft.oracle import OracleSpec
from pyacemaker.dft.qe import QESettings
from pyacemaker.validation.cells import crystal_system, standard_primitive
from pyacemaker.validation.elastic import (
    born_criteria,
    compute_elastic,
    cubic_stiffness,
    elastic_result,
    stiffness_error,
)
from pyacemaker.validation.phonons import compute_phonons, phonon_rmse, supercell_matrix
from pyacemaker.validation.reference import calculator_labeller, oracle_labeller
from pyacemaker.validation.suite import SuiteInputs, SuiteResult, run_suite

CU = bulk("Cu", "fcc", a=3.6)


class Scaled(Calculator):
    """EMT with energy, forces and stress multiplied by ``energy``/``force`` factors."""

    def __init__(self, energy: float = 1.0, force: float = 1.0) -> None:
        super().__init__()
        self.implemented_properties = ["energy", "free_energy", "forces", "stress"]
        self.energy_factor, self.force_factor, self.emt = energy, force, EMT()

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        work = self.atoms.copy()
        work.calc = self.emt
        energy = self.energy_factor * work.get_potential_energy()
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": self.force_factor * work.get_forces(),
            "stress": self.energy_factor * work.get_stress(),
        }


# --- Born criteria and moduli on known stiffness matrices (GPa) --------------------------


def test_born_criteria_cubic() -> None:
    si = cubic_stiffness(147, 50, 73)  # Si, PBE (PACE paper, Table 1)
    assert all(born_criteria(si, "cubic").values())
    assert not born_criteria(cubic_stiffness(50, 147, 73), "cubic")["C11 - C12 > 0"]
    assert not born_criteria(cubic_stiffness(147, 50, -1), "cubic")["C44 > 0"]
    assert not born_criteria(cubic_stiffness(100, -60, 30), "cubic")["C11 + 2 C12 > 0"]
    # Voigt–Reuss–Hill for cubic: K = (C11 + 2 C12)/3; G from the closed forms
    res = elastic_result(si, "cubic")
    gv, gr = (147 - 50 + 3 * 73) / 5, 5 * (147 - 50) * 73 / (4 * 73 + 3 * (147 - 50))
    assert res.bulk_modulus_vrh == pytest.approx(247 / 3)
    assert res.shear_modulus_vrh == pytest.approx((gv + gr) / 2)


def _hexagonal(c11: float, c12: float, c13: float, c33: float, c44: float) -> np.ndarray:
    c = np.zeros((6, 6))
    c[0, 0] = c[1, 1] = c11
    c[0, 1] = c[1, 0] = c12
    c[0, 2] = c[2, 0] = c[1, 2] = c[2, 1] = c13
    c[2, 2], c[3, 3], c[4, 4], c[5, 5] = c33, c44, c44, (c11 - c12) / 2
    return c


def test_born_criteria_hexagonal() -> None:
    mg = _hexagonal(59.5, 26.1, 21.8, 61.6, 16.4)  # magnesium, experiment
    assert all(born_criteria(mg, "hexagonal").values())
    broken = born_criteria(_hexagonal(59.5, 26.1, 60.0, 61.6, 16.4), "hexagonal")
    assert broken == {"C11 > |C12|": True, "2 C13² < C33 (C11 + C12)": False,
                      "C44 > 0": True, "C66 > 0": True}  # fmt: skip
    assert not all(born_criteria(_hexagonal(20, 30, 5, 60, 16), "hexagonal").values())


def test_born_criteria_tetragonal_including_class_ii() -> None:
    rutile = _hexagonal(268, 175, 147, 484, 124)
    rutile[5, 5] = 190  # TiO2 rutile: C66 independent in tetragonal crystals
    assert all(born_criteria(rutile, "tetragonal").values())
    soft = rutile.copy()
    soft[3, 3] = soft[4, 4] = -5
    assert not born_criteria(soft, "tetragonal")["C44 > 0"]
    class_ii = rutile.copy()
    class_ii[0, 5] = class_ii[5, 0] = 150.0  # 2 C16² = 45000 > C66 (C11 - C12) = 17670
    crit = born_criteria(class_ii, "tetragonal")
    assert crit["2 C16² < C66 (C11 - C12)"] is False and crit["C44 > 0"]


def test_crystal_system_of_standard_cells() -> None:
    assert crystal_system(standard_primitive(bulk("Si", "diamond", a=5.43))) == "cubic"
    assert crystal_system(bulk("Mg", "hcp", a=3.2)) == "hexagonal"
    assert crystal_system(bulk("Sn", "bct", a=5.8, c=3.2)) == "tetragonal"


# --- phonons and elastic constants with known answers ------------------------------------


def test_phonon_rmse_is_zero_for_itself_and_known_for_a_scaled_force_field() -> None:
    ref = compute_phonons(CU, calculator_labeller(EMT(), "emt"), 7.0, 0.01)
    assert ref.supercell_matrix == supercell_matrix(CU, 7.0) == [3, 3, 3]
    assert ref.n_displacements == 1 and ref.min_frequency > -0.01
    assert phonon_rmse(compute_phonons(CU, calculator_labeller(EMT(), "x"), 7.0, 0.01), ref) == 0
    # forces x 0.81 -> force constants x 0.81 -> frequencies x 0.9 exactly
    soft = compute_phonons(CU, calculator_labeller(Scaled(force=0.81), "x"), 7.0, 0.01)
    freqs = np.asarray(ref.frequencies)
    expected = 0.1 * float(np.sqrt(np.mean(freqs**2)))
    assert phonon_rmse(soft, ref) == pytest.approx(expected, rel=1e-6)
    assert 7.5 < freqs.max() < 9.0  # EMT Cu's top (longitudinal X) mode, THz


def test_elastic_constants_of_emt_copper_and_a_scaled_copy() -> None:
    emt = compute_elastic(CU, calculator_labeller(EMT(), "emt"), 0.01, 2)
    c = np.asarray(emt.c_gpa)
    assert emt.crystal_system == "cubic" and emt.stable and emt.n_calculations == 4
    # EMT Cu at a = 3.6 Å (slightly above its 3.59 Å minimum): 167, 111, 87 GPa
    assert c[0, 0] == pytest.approx(167, abs=3) and c[0, 1] == pytest.approx(111, abs=3)
    assert c[3, 3] == pytest.approx(87, abs=3)
    half = compute_elastic(CU, calculator_labeller(Scaled(energy=0.5), "x"), 0.01, 2)
    assert stiffness_error(half, emt) == pytest.approx(0.5, rel=1e-6)
    hcp = compute_elastic(bulk("Cu", "hcp", a=2.55), calculator_labeller(EMT(), "emt"), 0.01, 2)
    assert hcp.crystal_system == "hexagonal" and hcp.n_calculations == 12 and hcp.stable
    chp = np.asarray(hcp.c_gpa)
    assert chp[0, 0] == pytest.approx(chp[1, 1], rel=1e-2)  # hexagonal symmetry recovered
    assert chp[5, 5] == pytest.approx((chp[0, 0] - chp[0, 1]) / 2, rel=1e-2)


# --- the whole suite: a good potential passes, broken ones fail what they should ---------

FAST = ValidationConfig(
    md_steps=150, md_nve_steps=100, md_supercell_atoms=27, md_temperatures=[600]
)


def suite_of(potential: Calculator, tmp: Path) -> SuiteResult:
    return run_suite(
        SuiteInputs(
            prototype=CU, potential=potential, config=FAST, a_ref=3.6, v_ref=CU.get_volume(),
            workdir=tmp, reference=calculator_labeller(EMT(), "ase:EMT"),
        )
    )  # fmt: skip


def failed(result: SuiteResult) -> set[str]:
    return {c.name for c in result.checks if not c.passed}


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> SuiteResult:
    return suite_of(EMT(), tmp_path_factory.mktemp("good"))


def test_good_potential_passes_every_check(good: SuiteResult) -> None:
    assert failed(good) == set()
    groups = {c.group for c in good.checks}
    assert groups == {"eos", "phonons", "elastic", "md"}
    assert good.reference_calls == 7 + 1 + 4  # EOS volumes, one displacement, 2 strains x 2
    assert good.eos_ace.b0_prime == pytest.approx(good.eos_ref.b0_prime)  # type: ignore[union-attr]


def test_softened_potential_fails_stiffness_checks_but_keeps_lattice(tmp_path: Path) -> None:
    result = suite_of(Scaled(energy=0.7, force=0.7), tmp_path)
    assert failed(result) == {
        "EOS B0 relative error",
        "phonon band RMSE vs reference (THz)",
        "stiffness matrix relative RMS error",
        "bulk modulus (VRH) relative error",
        "shear modulus (VRH) relative error",
    }
    assert result.eos_ace.a0 == pytest.approx(result.eos_ref.a0)  # type: ignore[union-attr]


def test_sign_flipped_forces_fail_phonons_and_md(tmp_path: Path) -> None:
    result = suite_of(Scaled(force=-1.0), tmp_path)
    bad = failed(result)
    assert "phonons: lowest frequency (THz)" in bad  # every mode imaginary
    assert "phonon band RMSE vs reference (THz)" in bad
    assert "MD 600 K: completed without instability" in bad
    assert not any(name.startswith(("EOS", "Born", "stiffness")) for name in bad)
    assert result.phonons_ace is not None and result.phonons_ace.min_frequency < -5


# --- real pw.x at tiny settings ---------------------------------------------------------

needs_pw = pytest.mark.skipif(shutil.which("pw.x") is None, reason="pw.x not installed")


@needs_pw
def test_silicon_phonons_and_elastic_with_pw(tmp_path: Path) -> None:
    settings = QESettings(pseudopotentials={"Si": "Si.pbe-rrkj.UPF"}, ecutwfc=20.0, kspacing=0.6)
    dft = oracle_labeller(OracleSpec(engine="qe", qe=settings).build(), tmp_path)
    si = standard_primitive(bulk("Si", "diamond", a=5.47))
    phonons = compute_phonons(si, dft, 7.0, 0.01)
    assert phonons.supercell_matrix == [2, 2, 2] and phonons.n_displacements == 1
    assert phonons.min_frequency > -0.5  # no imaginary modes beyond numerical noise
    gamma_optical = max(phonons.frequencies[0])
    assert 13.0 < gamma_optical < 17.0  # Si: 15.5 THz (experiment), ~15 THz (PBE)
    elastic = compute_elastic(si, dft, 0.01, 2)
    c = np.asarray(elastic.c_gpa)
    assert elastic.stable and elastic.crystal_system == "cubic"
    assert 100 < c[0, 0] < 200 and 20 < c[0, 1] < 90 and c[0, 0] > c[0, 1]
    assert dft.calls == 1 + 4
    assert math.isfinite(elastic.bulk_modulus_vrh)
