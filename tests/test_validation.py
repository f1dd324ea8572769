"""EOS fits and error metrics against known answers."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.units import GPa

from pyacemaker.data import attach_labels
from pyacemaker.structures.generate import volume_series
from pyacemaker.validation.eos import eos_from_calculator, eos_from_labels, fit_eos
from pyacemaker.validation.metrics import errors_against


def birch_murnaghan(v: np.ndarray, e0: float, v0: float, b0: float, bp: float) -> np.ndarray:
    eta = (v0 / v) ** (2 / 3)
    return e0 + 9 * v0 * b0 / 16 * ((eta - 1) ** 3 * bp + (eta - 1) ** 2 * (6 - 4 * eta))


def test_eos_fit_recovers_known_parameters() -> None:
    v = np.linspace(18, 23, 9)
    e = birch_murnaghan(v, -5.4, 20.45, 88.5 * GPa, 4.3)
    res = fit_eos(v, e, a_ref=5.43, v_ref=20.0)
    assert res.v0 == pytest.approx(20.45, rel=1e-3)
    assert res.b0_gpa == pytest.approx(88.5, rel=1e-2)
    assert res.a0 == pytest.approx(5.43 * (20.45 / 20.0) ** (1 / 3), rel=1e-3)


def test_eos_from_labels_matches_eos_from_calculator() -> None:
    cu = bulk("Cu", "fcc", a=3.6)
    cells = volume_series(cu, 7, 0.08)
    labelled = []
    for atoms in cells:
        atoms.calc = EMT()
        labelled.append(
            attach_labels(atoms, atoms.get_potential_energy(), atoms.get_forces(), None, "ase:EMT")
        )
    v_ref = cu.get_volume()
    from_labels = eos_from_labels(labelled, 3.6, v_ref)
    from_calc = eos_from_calculator(cells, EMT(), 3.6, v_ref)
    assert from_labels.a0 == pytest.approx(from_calc.a0, rel=1e-9)
    assert 3.55 < from_labels.a0 < 3.65  # EMT copper's lattice constant is about 3.59 Å
    assert 100 < from_labels.b0_gpa < 200


def test_errors_against_are_zero_for_the_labelling_calculator_and_not_otherwise() -> None:
    cu = bulk("Cu", "fcc", a=3.6).repeat(2)
    cu.rattle(0.05, seed=1)
    cu.calc = EMT()
    labelled = [attach_labels(cu, cu.get_potential_energy(), cu.get_forces(), None, "ase:EMT")]
    assert errors_against(labelled, EMT()).force_rmse == pytest.approx(0, abs=1e-12)
    shifted = [
        attach_labels(cu, cu.get_potential_energy() + 0.08, cu.get_forces() + 0.1, None, "x")
    ]
    err = errors_against(shifted, EMT())
    assert err.energy_rmse_mev == pytest.approx(10.0)  # 80 meV over 8 atoms
    assert err.force_rmse == pytest.approx(0.1)
