"""LAMMPS with the ML-PACE plugin runs the pipeline's own potential."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ase.build import bulk

from pyacemaker.ace.pacemaker import ace_calculator
from pyacemaker.ace.schemas import AcePotentialDoc
from pyacemaker.dynamics.lammps import doctor_check, open_lammps


def _cu_box(lmp: Any, a: float) -> None:
    lmp.commands_string(f"""
        units metal
        atom_style atomic
        boundary p p p
        lattice fcc {a}
        region box block 0 2 0 2 0 2
        create_box 1 box
        create_atoms 1 box
        mass 1 63.546
    """)


def test_plugin_registers_both_pace_pair_styles() -> None:
    ok, message = doctor_check()
    assert ok, message


def test_pace_energy_matches_python_calculator(emt_run: dict[str, Any]) -> None:
    pot: Path = emt_run["out"] / "potential"
    lmp = open_lammps()
    _cu_box(lmp, 3.6)
    lmp.commands_string(f"pair_style pace\npair_coeff * * {pot / 'potential.yace'} Cu\nrun 0")
    e_lmp = lmp.get_thermo("pe")
    lmp.close()
    doc = AcePotentialDoc.model_validate(_final_doc(emt_run))
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.calc = ace_calculator(doc)
    assert e_lmp == pytest.approx(atoms.get_potential_energy(), abs=1e-6 * len(atoms))


def test_extrapolation_grade_is_low_in_data_and_high_outside(emt_run: dict[str, Any]) -> None:
    pot: Path = emt_run["out"] / "potential"
    grades = []
    for a in (3.6, 2.9):  # equilibrium vs a cell compressed far beyond the training data
        lmp = open_lammps()
        _cu_box(lmp, a)
        lmp.commands_string(f"""
            pair_style pace/extrapolation
            pair_coeff * * {pot / "potential.yaml"} {pot / "potential.asi"} Cu
            fix pace_gamma all pair 1 pace/extrapolation gamma 1
            compute max_gamma all reduce max f_pace_gamma
            thermo_style custom step pe c_max_gamma
            run 0
        """)
        grades.append(lmp.extract_compute("max_gamma", 0, 0))
        lmp.close()
    assert grades[0] < 1.5
    assert grades[1] > 5 * grades[0] and np.isfinite(grades[1])


def _final_doc(emt_run: dict[str, Any]) -> dict[str, Any]:
    """The record of the delivered potential (teacher route or direct fit: potential/)."""
    from pyacemaker.store import job_store

    delivery = emt_run["summary"].validation.delivery
    direct = delivery is not None and delivery.delivered == "direct_ace"
    store = job_store(emt_run["store"])
    store.connect()
    doc = store.query_one(
        {"name": "active_set_direct" if direct else "active_set"}, properties=["output"]
    )
    assert doc is not None
    return dict(doc["output"])
