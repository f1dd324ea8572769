"""Harmonic phonons by finite displacements (phonopy), for a potential and its reference.

phonopy does the physics (symmetry-reduced displacements, force constants, band
structure, DOS); this module only feeds it forces from a :class:`Labeller`, so the
potential and the reference are treated identically and their band structures share
q-points and band order. The supercell is the primitive cell repeated until every
lattice vector is at least ``min_length`` long (diamond Si: 2x2x2 = 16 atoms, one
symmetry-distinct displacement).

Band path: phonopy's ``auto_band_structure`` needs seekpath, which is optional and not
installed here, so cubic lattices (P, F, I) get the standard path written out below in
units of 2π/a of the conventional cube and other lattices a generic path through the
zone-face centres. Cells must be in spglib's standard orientation
(:func:`pyacemaker.validation.cells.standard_primitive`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from ase import Atoms
from phonopy import Phonopy
from phonopy.phonon.band_structure import get_band_qpoints_and_path_connections
from phonopy.structure.atoms import PhonopyAtoms
from pydantic import BaseModel

from pyacemaker.data import forces_of
from pyacemaker.validation.cells import symmetry_dataset
from pyacemaker.validation.reference import Labeller

BAND_POINTS = 41  # q-points per path segment
MESH_LENGTH = 30.0  # phonopy's length-based sampling mesh for the DOS and the minimum frequency

# Standard cubic paths (Setyawan–Curtarolo), Cartesian, in units of 2π/a_conventional.
_CUBIC_PATHS: dict[str, list[list[tuple[str, tuple[float, float, float]]]]] = {
    "F": [
        [("Γ", (0, 0, 0)), ("X", (0, 1, 0)), ("W", (0.5, 1, 0)), ("K", (0.75, 0.75, 0)),
         ("Γ", (0, 0, 0)), ("L", (0.5, 0.5, 0.5))],
    ],
    "I": [
        [("Γ", (0, 0, 0)), ("H", (0, 1, 0)), ("N", (0.5, 0.5, 0)), ("Γ", (0, 0, 0)),
         ("P", (0.5, 0.5, 0.5)), ("H", (0, 1, 0))],
    ],
    "P": [
        [("Γ", (0, 0, 0)), ("X", (0, 0.5, 0)), ("M", (0.5, 0.5, 0)), ("Γ", (0, 0, 0)),
         ("R", (0.5, 0.5, 0.5)), ("X", (0, 0.5, 0))],
    ],
}  # fmt: skip
# Any other lattice: Γ and the centres of the zone faces, in reduced coordinates.
_GENERIC_PATH = [
    [("Γ", (0, 0, 0)), ("X", (0.5, 0, 0)), ("M", (0.5, 0.5, 0)), ("Γ", (0, 0, 0)),
     ("Z", (0, 0, 0.5))],
]  # fmt: skip


class PhononResult(BaseModel):
    """Band structure along ``labels`` (frequencies in THz, imaginary as negative), DOS."""

    supercell_matrix: list[int]
    n_displacements: int
    distances: list[float]
    frequencies: list[list[float]]
    labels: list[str]
    label_distances: list[float]
    dos_frequencies: list[float]
    dos: list[float]
    min_frequency: float


def supercell_matrix(atoms: Atoms, min_length: float) -> list[int]:
    """Diagonal repetition making every lattice vector at least ``min_length`` Å long."""
    return [max(1, math.ceil(min_length / length - 1e-9)) for length in atoms.cell.lengths()]


def _to_phonopy(atoms: Atoms) -> PhonopyAtoms:
    return PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(),
        cell=np.asarray(atoms.cell),
        scaled_positions=atoms.get_scaled_positions(),
    )


def _to_ase(cell: PhonopyAtoms) -> Atoms:
    return Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, pbc=True)


def band_path(atoms: Atoms) -> tuple[list[list[np.ndarray]], list[str]]:
    """Path segments in reduced coordinates of ``atoms``' reciprocal lattice, and labels."""
    dataset = symmetry_dataset(atoms)
    cubic = dataset is not None and dataset.number >= 195
    centring = "" if dataset is None else str(dataset.international)[0]
    if dataset is not None and cubic and centring in _CUBIC_PATHS:
        a_conv = float(np.linalg.norm(dataset.std_lattice[0]))
        lattice = np.asarray(atoms.cell)
        named = _CUBIC_PATHS[centring]
        segments = [[lattice @ (np.array(k) / a_conv) for _, k in seg] for seg in named]
    else:
        named = _GENERIC_PATH
        segments = [[np.array(k, dtype=float) for _, k in seg] for seg in named]
    labels = [name for seg in named for name, _ in seg]
    return segments, labels


def displaced_supercells(
    unitcell: Atoms, min_length: float, displacement: float
) -> tuple[Phonopy, list[Atoms]]:
    """Phonopy's symmetry-reduced finite-displacement supercells of ``unitcell``."""
    matrix = supercell_matrix(unitcell, min_length)
    phonon = Phonopy(_to_phonopy(unitcell), supercell_matrix=np.diag(matrix))
    phonon.generate_displacements(distance=displacement)
    cells = [_to_ase(c) for c in phonon.supercells_with_displacements or [] if c is not None]
    return phonon, cells


def compute_phonons(
    unitcell: Atoms, labeller: Labeller, min_length: float, displacement: float
) -> PhononResult:
    """Force constants from ``labeller``'s forces on displaced supercells, bands and DOS."""
    matrix = supercell_matrix(unitcell, min_length)
    phonon, cells = displaced_supercells(unitcell, min_length, displacement)
    phonon.forces = np.array([forces_of(a) for a in labeller.label(cells, "phonons")])
    phonon.produce_force_constants()
    phonon.symmetrize_force_constants()
    segments, labels = band_path(unitcell)
    qpoints, connections = get_band_qpoints_and_path_connections(segments, npoints=BAND_POINTS)
    phonon.run_band_structure(qpoints, path_connections=connections, labels=labels)
    bands = phonon.get_band_structure_dict()
    phonon.run_mesh(MESH_LENGTH)
    phonon.run_total_dos()
    dos = phonon.get_total_dos_dict()
    band_freqs = np.concatenate(bands["frequencies"] or [])
    mesh_min = float(np.min(phonon.get_mesh_dict()["frequencies"]))  # type: ignore[typeddict-item]
    return PhononResult(
        supercell_matrix=matrix,
        n_displacements=len(cells),
        distances=[float(x) for x in np.concatenate(bands["distances"])],
        frequencies=band_freqs.tolist(),
        labels=labels,
        label_distances=_label_distances(bands["distances"]),
        dos_frequencies=[float(x) for x in dos["frequency_points"]],
        dos=[float(x) for x in dos["total_dos"]],
        min_frequency=min(float(band_freqs.min()), mesh_min),
    )


def _label_distances(distances: Sequence[np.ndarray]) -> list[float]:
    """Path distance of every vertex (segment starts plus the last end)."""
    return [float(d[0]) for d in distances] + [float(distances[-1][-1])]


def phonon_rmse(result: PhononResult, reference: PhononResult) -> float:
    """RMSE (THz) over every band at every path q-point; both computed on the same cell."""
    a, b = np.asarray(result.frequencies), np.asarray(reference.frequencies)
    if a.shape != b.shape:
        raise ValueError(f"band structures differ in shape: {a.shape} vs {b.shape}")
    return float(np.sqrt(np.mean((a - b) ** 2)))
