"""Errors of a potential against labelled data, in the units users quote."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from pydantic import BaseModel

from pyacemaker.data import energy_force_rmse


class ErrorMetrics(BaseModel):
    """Energy RMSE in meV/atom and force-component RMSE in eV/Å on ``n`` structures."""

    energy_rmse_mev: float
    force_rmse: float
    n: int


def predict(structures: Sequence[Atoms], calc: Calculator) -> tuple[list[float], list[np.ndarray]]:
    """Energies and forces of ``calc`` on copies of each structure."""
    energies, forces = [], []
    for atoms in structures:
        work = atoms.copy()
        work.calc = calc
        energies.append(float(work.get_potential_energy()))
        forces.append(np.asarray(work.get_forces()))
    return energies, forces


def errors_against(structures: Sequence[Atoms], calc: Calculator) -> ErrorMetrics:
    """RMSE of ``calc`` against the labels of ``structures``."""
    energies, forces = predict(structures, calc)
    e_rmse, f_rmse = energy_force_rmse(structures, energies, forces)
    return ErrorMetrics(energy_rmse_mev=1000 * e_rmse, force_rmse=f_rmse, n=len(structures))
