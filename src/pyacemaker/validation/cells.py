"""The cell every property is computed on, and its crystal system.

Elastic constants and Born criteria are written for the standard orientation of each
crystal system (cubic axes along x, y, z; hexagonal and tetragonal c along z), and the
phonon path needs it too, so the cell is first brought to spglib's standardized
primitive cell. It is then scaled isotropically to the reference's EOS volume so the
potential and the reference are compared on one and the same cell.
"""

from __future__ import annotations

import numpy as np
import spglib
from ase import Atoms
from ase.neighborlist import neighbor_list
from spglib import SpglibDataset

_SYSTEMS = (  # (last space-group number, crystal system)
    (2, "triclinic"),
    (15, "monoclinic"),
    (74, "orthorhombic"),
    (142, "tetragonal"),
    (167, "trigonal"),
    (194, "hexagonal"),
    (230, "cubic"),
)
SYMPREC = 1e-3


SpglibCell = tuple[list[list[float]], list[list[float]], list[int]]


def _spglib_cell(atoms: Atoms) -> SpglibCell:
    return (
        np.asarray(atoms.cell).tolist(),
        atoms.get_scaled_positions().tolist(),
        [int(z) for z in atoms.get_atomic_numbers()],
    )


def symmetry_dataset(atoms: Atoms) -> SpglibDataset | None:
    """Symmetry analysis by spglib of ``atoms`` (None if it finds no symmetry)."""
    return spglib.get_symmetry_dataset(_spglib_cell(atoms), symprec=SYMPREC)


def crystal_system(atoms: Atoms) -> str:
    """Crystal system from spglib's space group (``triclinic`` if none is found)."""
    dataset = symmetry_dataset(atoms)
    number = 1 if dataset is None else int(dataset.number)
    return next(name for last, name in _SYSTEMS if number <= last)


def standard_primitive(atoms: Atoms) -> Atoms:
    """Standardized primitive cell from spglib (idealized, standard orientation)."""
    found = spglib.standardize_cell(_spglib_cell(atoms), to_primitive=True, symprec=SYMPREC)
    if found is None:
        return atoms.copy()  # type: ignore[no-any-return]  # ASE's copy is unannotated
    lattice, positions, numbers = found
    return Atoms(numbers=numbers, cell=lattice, scaled_positions=positions, pbc=True)


def scaled_to_volume(atoms: Atoms, volume_per_atom: float) -> Atoms:
    """Copy scaled isotropically (fractional coordinates kept) to the given volume per atom."""
    out: Atoms = atoms.copy()
    factor = (volume_per_atom * len(atoms) / atoms.get_volume()) ** (1 / 3)
    out.set_cell(np.asarray(atoms.cell) * factor, scale_atoms=True)
    return out


def shortest_distance(atoms: Atoms) -> float:
    """Shortest interatomic distance (periodic images included), Å."""
    cutoff = 2.0 * float(np.cbrt(atoms.get_volume() / len(atoms))) + 1.0
    distances = neighbor_list("d", atoms, cutoff)
    return float(distances.min())
