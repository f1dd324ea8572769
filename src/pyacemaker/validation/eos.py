"""Equation of state: Birch–Murnaghan fits of energy against volume.

The same fit is applied to DFT labels and to a potential's predictions on the same
cells, so a0 and B0 are compared like for like (pseudopotential DFT at the run's
cutoff is the reference, not all-electron literature values).
"""

from __future__ import annotations

from collections.abc import Sequence

from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.eos import EquationOfState
from ase.units import GPa
from pydantic import BaseModel

from pyacemaker.data import energy_of
from pyacemaker.validation.metrics import predict


class EOSResult(BaseModel):
    """Birch–Murnaghan parameters per atom, and the lattice scale at the minimum.

    ``b0_prime`` (dB/dP) is optional so that documents written before it existed load.
    """

    volumes: list[float]
    energies: list[float]
    v0: float
    e0: float
    b0_gpa: float
    a0: float
    b0_prime: float | None = None


def fit_eos(
    volumes: Sequence[float], energies: Sequence[float], a_ref: float, v_ref: float
) -> EOSResult:
    """Fit per-atom volumes/energies; ``a0`` scales ``a_ref``, the lattice constant at ``v_ref``."""
    eos = EquationOfState(list(volumes), list(energies), eos="birchmurnaghan")
    v0, e0, b0 = eos.fit()
    b0_prime = float(eos.eos_parameters[2])  # ASE's Birch–Murnaghan order: E0, B0, B', V0
    return EOSResult(
        volumes=[float(v) for v in volumes],
        energies=[float(e) for e in energies],
        v0=float(v0),
        e0=float(e0),
        b0_gpa=float(b0 / GPa),
        a0=float(a_ref * (v0 / v_ref) ** (1 / 3)),
        b0_prime=b0_prime,
    )


def eos_from_labels(structures: Sequence[Atoms], a_ref: float, v_ref: float) -> EOSResult:
    """EOS of labelled cells (e.g. DFT), per atom."""
    vols = [a.get_volume() / len(a) for a in structures]
    ens = [energy_of(a) / len(a) for a in structures]
    return fit_eos(vols, ens, a_ref, v_ref)


def eos_from_calculator(
    structures: Sequence[Atoms], calc: Calculator, a_ref: float, v_ref: float
) -> EOSResult:
    """EOS of a potential evaluated on the given cells, per atom."""
    energies, _ = predict(structures, calc)
    vols = [a.get_volume() / len(a) for a in structures]
    return fit_eos(
        vols, [e / len(a) for e, a in zip(energies, structures, strict=True)], a_ref, v_ref
    )
