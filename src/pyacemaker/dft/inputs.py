"""Heuristics that pick the structure-dependent part of a pw.x input.

These are pure functions of the structure (no settings, no pw.x), so each rule can be
read and tested on its own; :func:`pyacemaker.dft.qe.prepare_input` combines them with
:class:`~pyacemaker.dft.qe.QESettings` into one :class:`~pyacemaker.dft.qe.PwInputSet`.
``docs/dft.md`` explains each choice.

Metal or insulator (:func:`likely_metal`)
    Decided from the elements alone, before any calculation: a structure with any metal
    (pymatgen ``Element.is_metal``) or any element whose elemental/compound phases are
    often semimetals or zero-gap in PBE (C as graphite, Ge, Sn, As, Sb, Bi, Te) is
    treated as a metal. This guess errs towards "metal" because smearing always works,
    while fixed occupations on a metal stall the SCF.

Defects (:func:`uniform_coordination`)
    Fixed occupations also need a gap the structure keeps: a vacancy, a surface or an
    exploration cut-out leaves dangling bonds whose states sit in the gap, and a
    semiconductor cell with them stalls the SCF with fixed occupations (measured: a
    21-atom Si cut-out still at 2e-3 Ry after 65 iterations). A cell whose atoms do not
    all have the same number of bonded neighbours (closer than :data:`BOND_TOLERANCE`
    times the sum of covalent radii) is therefore smeared like a metal.

Spin (:data:`MAGNETIC_START`)
    Structures with Cr, Mn, Fe, Co or Ni are spin-polarised and start ferromagnetic with
    the fraction of valence charge below (QE's ``starting_magnetization``). A
    ferromagnetic start finds the ferromagnetic ground state of Fe, Co and Ni; Cr and Mn
    are antiferromagnetic in nature and may end in a metastable state (documented
    limitation: no antiferromagnetic ordering is tried).

Vacuum (:func:`vacuum_widths`, :func:`isolated_box`)
    A periodic direction whose largest empty gap between atom planes is at least
    :data:`VACUUM_GAP` is treated as non-periodic (one k-point along it). With vacuum in
    every direction (a cluster cut out of a crystal, or ``pbc=False``) the structure is
    isolated: Γ only, Martyna-Tuckerman ``assume_isolated='mt'`` and an orthorhombic box
    large enough for it (MT needs the box to be about twice the molecule).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from ase import Atoms
from ase.neighborlist import natural_cutoffs, neighbor_list
from pymatgen.core.periodic_table import Element

MAGNETIC_START: dict[str, float] = {"Cr": 0.5, "Mn": 0.5, "Fe": 0.4, "Co": 0.3, "Ni": 0.2}
SEMIMETAL_FORMERS = frozenset({"C", "Ge", "Sn", "As", "Sb", "Bi", "Te"})
BOND_TOLERANCE = 1.2  # a bond: closer than 1.2 x the sum of covalent radii (Si-Si 2.35 < 2.66)
VACUUM_GAP = 6.0  # Å: longer than any bond, shorter than any sensible slab/cluster padding
DENSITY_TAIL = 2.5  # Å of electron density beyond the outermost nuclei, on each side


def likely_metal(symbols: Iterable[str]) -> bool:
    """True unless every element is a non-metal that forms gapped solids (rule above)."""
    return any(Element(el).is_metal or el in SEMIMETAL_FORMERS for el in set(symbols))


def uniform_coordination(atoms: Atoms) -> bool:
    """Whether every atom has the same number of bonded neighbours (no dangling bonds)."""
    first = neighbor_list("i", atoms, natural_cutoffs(atoms, mult=BOND_TOLERANCE))
    counts = np.bincount(first, minlength=len(atoms))
    return bool(np.all(counts == counts[0]))


def starting_magnetization(symbols: Iterable[str]) -> dict[str, float]:
    """Initial spin per magnetic element present (empty: no spin polarisation)."""
    return {el: MAGNETIC_START[el] for el in sorted(set(symbols)) if el in MAGNETIC_START}


def vacuum_widths(atoms: Atoms) -> np.ndarray:
    """Empty space (Å) along each lattice direction; ``inf`` for a non-periodic one.

    The width is the largest gap between the sorted fractional coordinates along that
    direction (wrapping around the cell) times the spacing of the lattice planes,
    i.e. the thickness of the empty slab the structure leaves in the cell.
    """
    widths = np.full(3, np.inf)
    if len(atoms) == 0 or not atoms.pbc.any():  # a molecule may have no cell at all
        return widths
    fractional = atoms.cell.scaled_positions(atoms.positions) % 1.0
    plane_spacing = 1.0 / np.linalg.norm(np.linalg.inv(atoms.cell).T, axis=1)
    for axis in np.flatnonzero(atoms.pbc):
        coords = np.sort(fractional[:, axis])
        gaps = np.diff(np.concatenate([coords, [coords[0] + 1.0]]))
        widths[axis] = float(gaps.max()) * plane_spacing[axis]
    return widths


def effective_pbc(atoms: Atoms) -> np.ndarray:
    """Directions to sample with k-points: periodic and not padded by vacuum."""
    return np.asarray(atoms.pbc) & (vacuum_widths(atoms) < VACUUM_GAP)


def isolated_box(atoms: Atoms, min_side: float = 0.0) -> Atoms:
    """Copy of an isolated structure, centred in an orthorhombic box fit for MT.

    Each side is twice the atoms' extent plus :data:`DENSITY_TAIL` on both sides, so
    the box is about twice the size of the charge density, as the Martyna-Tuckerman
    correction assumes, and at least ``min_side`` (a lone atom, extent 0, would get a
    5 Å box: too tight for the tail of a free atom's density, which a reference energy
    needs converged). Atoms are made whole first (a cluster cut out across a cell
    boundary is unwrapped around its first atom).
    """
    box: Atoms = atoms.copy()
    if box.pbc.any():
        shifts = box.get_distances(0, range(len(box)), mic=True, vector=True)
        box.positions = box.positions[0] + shifts
    extent = np.ptp(box.positions, axis=0)
    box.set_cell(np.diag(np.maximum(2.0 * extent + 2.0 * DENSITY_TAIL, min_side)))
    box.pbc = False
    box.center()
    return box
