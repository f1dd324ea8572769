"""Elastic constants from stress–strain fits, Born stability and Voigt–Reuss–Hill moduli.

Each Voigt strain component j is applied at ``points`` amplitudes in ±``strain``
(engineering shear strain for j ≥ 3); the slope of every stress component against it is
column j of C (σ = C ε, ASE's sign: tension positive). Ions are clamped (no internal
relaxation), which is cheap for DFT and a like-for-like comparison between a potential
and its reference; for diamond-type crystals it overestimates C44 against experiment
(no Kleinman relaxation). A cubic crystal in standard orientation needs only xx and yz
(4 calculations at 2 points); every other system gets all six components.

Born criteria are the necessary and sufficient conditions of Mouhat & Coudert,
Phys. Rev. B 90, 224104 (2014), written out for cubic, hexagonal and tetragonal
crystals; other systems use their general form, positive eigenvalues of C.
Bulk and shear moduli (Voigt–Reuss–Hill) come from pymatgen's ``ElasticTensor``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from ase import Atoms
from ase.units import GPa
from numpy.typing import NDArray
from pydantic import BaseModel
from pymatgen.analysis.elasticity import ElasticTensor

from pyacemaker.data import stress_of
from pyacemaker.validation.cells import crystal_system
from pyacemaker.validation.reference import Labeller

Matrix = NDArray[np.float64]
_VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
_CUBIC_COLUMNS = (0, 3)


class ElasticResult(BaseModel):
    """Stiffness (Voigt, GPa), crystal system, Born criteria, VRH moduli."""

    c_gpa: list[list[float]]
    crystal_system: str
    born: dict[str, bool]
    stable: bool
    min_eigenvalue_gpa: float
    bulk_modulus_vrh: float
    shear_modulus_vrh: float
    n_calculations: int


def strain_tensor(component: int, amount: float) -> Matrix:
    """Symmetric strain tensor of one Voigt component (shear: engineering strain)."""
    i, j = _VOIGT[component]
    eps = np.zeros((3, 3))
    if i == j:
        eps[i, i] = amount
    else:
        eps[i, j] = eps[j, i] = amount / 2
    return eps


def strained(atoms: Atoms, eps: Matrix) -> Atoms:
    """Copy with the cell deformed by (1 + eps), atoms following homogeneously."""
    out: Atoms = atoms.copy()
    out.set_cell(np.asarray(atoms.cell) @ (np.eye(3) + eps), scale_atoms=True)
    return out


def _amplitudes(strain: float, points: int) -> Matrix:
    """``points`` strains in ±strain, zero left out (it adds nothing to a slope)."""
    values = np.linspace(-strain, strain, points + (points % 2))
    return values[np.abs(values) > 1e-12]


def stiffness_columns(
    atoms: Atoms, labeller: Labeller, columns: Sequence[int], strain: float, points: int
) -> tuple[dict[int, Matrix], int]:
    """Fitted columns of C (GPa) for the given Voigt components, and the calculations made."""
    amounts = _amplitudes(strain, points)
    cells = [strained(atoms, strain_tensor(j, s)) for j in columns for s in amounts]
    stresses = [stress_of(a) for a in labeller.label(cells, "elastic")]
    if any(s is None for s in stresses):
        raise ValueError("the elastic reference returned no stress")
    sigma = np.array(stresses, dtype=float).reshape(len(columns), len(amounts), 6) / GPa
    fitted = {j: np.polyfit(amounts, sigma[k], 1)[0] for k, j in enumerate(columns)}
    return fitted, len(cells)


def _cubic_from_columns(cols: dict[int, Matrix]) -> Matrix:
    c11, c12, c44 = cols[0][0], 0.5 * (cols[0][1] + cols[0][2]), cols[3][3]
    return cubic_stiffness(float(c11), float(c12), float(c44))


def cubic_stiffness(c11: float, c12: float, c44: float) -> Matrix:
    """Full 6x6 Voigt matrix of a cubic crystal."""
    c = np.zeros((6, 6))
    c[:3, :3] = c12
    np.fill_diagonal(c[:3, :3], c11)
    c[3, 3] = c[4, 4] = c[5, 5] = c44
    return c


def born_criteria(c: Matrix, system: str) -> dict[str, bool]:
    """Each Born stability condition for the crystal system, and whether it holds."""
    return {name: bool(holds) for name, holds in _born(c, system).items()}


def _born(c: Matrix, system: str) -> dict[str, Any]:
    c11, c12, c13, c33, c44, c66 = c[0, 0], c[0, 1], c[0, 2], c[2, 2], c[3, 3], c[5, 5]
    if system == "cubic":
        return {"C11 - C12 > 0": c11 - c12 > 0, "C11 + 2 C12 > 0": c11 + 2 * c12 > 0,
                "C44 > 0": c44 > 0}  # fmt: skip
    if system in ("hexagonal", "tetragonal"):
        criteria = {
            "C11 > |C12|": c11 > abs(c12),
            "2 C13² < C33 (C11 + C12)": 2 * c13**2 < c33 * (c11 + c12),
            "C44 > 0": c44 > 0,
            "C66 > 0": c66 > 0,
        }
        if system == "tetragonal" and abs(c[0, 5]) > 1e-6 * abs(c11):  # class II (C16 ≠ 0)
            criteria["2 C16² < C66 (C11 - C12)"] = 2 * c[0, 5] ** 2 < c66 * (c11 - c12)
        return criteria
    return {"eigenvalues of C > 0": bool(np.linalg.eigvalsh(c).min() > 0)}


def elastic_result(c: Matrix, system: str, n_calculations: int = 0) -> ElasticResult:
    """Born criteria and VRH moduli of a stiffness matrix (GPa)."""
    c = 0.5 * (c + c.T)
    born = born_criteria(c, system)
    tensor = ElasticTensor.from_voigt(c)
    return ElasticResult(
        c_gpa=c.tolist(),
        crystal_system=system,
        born=born,
        stable=all(born.values()),
        min_eigenvalue_gpa=float(np.linalg.eigvalsh(c).min()),
        bulk_modulus_vrh=float(tensor.k_vrh),
        shear_modulus_vrh=float(tensor.g_vrh),
        n_calculations=n_calculations,
    )


def elastic_columns(atoms: Atoms) -> tuple[int, ...]:
    """The Voigt strain components that define C for the crystal system (cubic: xx, yz)."""
    return _CUBIC_COLUMNS if crystal_system(atoms) == "cubic" else tuple(range(6))


def compute_elastic(atoms: Atoms, labeller: Labeller, strain: float, points: int) -> ElasticResult:
    """Clamped-ion stiffness of ``atoms`` (standard orientation) from ``labeller``'s stress."""
    system = crystal_system(atoms)
    cols, n = stiffness_columns(atoms, labeller, elastic_columns(atoms), strain, points)
    if system == "cubic":
        c = _cubic_from_columns(cols)
    else:
        c = np.column_stack([cols[j] for j in range(6)])
    return elastic_result(c, system, n)


def stiffness_error(result: ElasticResult, reference: ElasticResult) -> float:
    """Relative RMS difference of the two 6x6 matrices (scale: the reference's RMS)."""
    a, b = np.asarray(result.c_gpa), np.asarray(reference.c_gpa)
    return float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b**2)))
