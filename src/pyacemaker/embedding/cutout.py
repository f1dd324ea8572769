"""Small DFT-sized structures cut around one atom of a big MD frame.

Around the centre (an atom with high γ) a sphere of radius ``core_radius`` is the
*core*: its atoms see a bulk-like environment, so their DFT forces are learned
(``arrays["force_weight"] = 1``). The rest, out to ``buffer_radius``, is the *buffer*:
it only gives the core its neighbours and has force weight 0, so the artificial
boundary never teaches the model. Energies of a cut-out contain the boundary too,
so every cut-out has ``info["energy_weight"] = 0``.

Two ways to close the boundary:

* **periodic embedding** (metals and anything dense): the atoms inside the cube of side
  ``2 * buffer_radius`` around the centre (minimum-image displacements) become a
  periodic cell of that size. Across the cell faces the cut is bulk-like wherever the
  lattice is commensurate; where it is not, atoms closer than ``min_distance_fraction``
  × the frame's nearest-neighbour distance to a periodic image would overlap, and the
  buffer atom of each such pair is removed until none is left (never a core atom).
* **cluster in vacuum** with hydrogen passivation (covalent systems): the sphere of
  ``buffer_radius`` in a box with ``vacuum``; each bond cut by the sphere (neighbours
  within 1.2 × the sum of covalent radii) gets an H atom along the bond at the
  X–H length r_cov(X) + r_cov(H) (ASE ``covalent_radii``, Cordero et al. 2008: Si–H
  1.42 Å, C–H 1.07 Å). H atoms are labelled with the cluster and removed afterwards
  (:func:`strip_caps`): with ``buffer_radius - core_radius`` ≥ the potential's cutoff
  the core forces never depended on them.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms
from ase.data import atomic_numbers, covalent_radii
from ase.neighborlist import natural_cutoffs, neighbor_list
from ase.optimize import BFGS

from pyacemaker.dft.inputs import BOND_TOLERANCE

FORCE_WEIGHT_KEY = "force_weight"  # pyacemaker.ace.pacemaker reads the same keys
ENERGY_WEIGHT_KEY = "energy_weight"
CORE_KEY = "core"
CENTRE_KEY = "cutout_center"
CAP_TAG = 1  # ASE tag of passivating hydrogens


def nearest_neighbour_distance(atoms: Atoms) -> float:
    """Shortest interatomic distance in a (periodic) structure."""
    for cutoff in (3.0, 6.0, 12.0):
        distances = neighbor_list("d", atoms, cutoff)
        if len(distances):
            return float(distances.min())
    raise ValueError("no two atoms closer than 12 Å: cannot define a neighbour distance")


def displacements(atoms: Atoms, center: int) -> np.ndarray:
    """Minimum-image vectors from atom ``center`` to every atom."""
    vectors = atoms.get_distances(center, range(len(atoms)), mic=True, vector=True)
    return np.asarray(vectors, dtype=float)


def _masked(atoms: Atoms, vectors: np.ndarray, core_radius: float, center: int) -> Atoms:
    """Cut-out with the core flag and the weights of the force mask."""
    core = np.linalg.norm(vectors, axis=1) <= core_radius
    atoms.arrays[CORE_KEY] = core
    atoms.arrays[FORCE_WEIGHT_KEY] = core.astype(float)
    atoms.info[ENERGY_WEIGHT_KEY] = 0.0
    atoms.info[CENTRE_KEY] = int(center)
    return atoms


def periodic_cutout(
    frame: Atoms,
    center: int,
    core_radius: float,
    buffer_radius: float,
    min_distance_fraction: float = 0.8,
) -> Atoms:
    """Periodic cube of side ``2 * buffer_radius`` around ``center``, free of image overlap."""
    if core_radius >= buffer_radius:
        raise ValueError("core_radius must be smaller than buffer_radius")
    vectors = displacements(frame, center)
    inside = np.all(np.abs(vectors) < buffer_radius, axis=1)
    side = 2.0 * buffer_radius
    cut = Atoms(
        frame.numbers[inside],
        positions=vectors[inside] + buffer_radius,
        cell=np.eye(3) * side,
        pbc=True,
    )
    cut = _masked(cut, vectors[inside], core_radius, center)
    limit = min_distance_fraction * nearest_neighbour_distance(frame)
    while (pair := _closest_pair(cut)) is not None and pair[0] < limit:
        del cut[_buffer_member(cut, pair[1:])]
    return cut


def _closest_pair(atoms: Atoms) -> tuple[float, int, int] | None:
    """Shortest distance in a periodic cell (images included) and its two atoms."""
    first, second, dist = neighbor_list("ijd", atoms, atoms.cell.lengths().min())
    if not len(dist):
        return None
    k = int(np.argmin(dist))
    return float(dist[k]), int(first[k]), int(second[k])


def _buffer_member(atoms: Atoms, pair: tuple[int, int]) -> int:
    """The atom of an overlapping pair to drop: a buffer atom, the later one if both are."""
    candidates = [i for i in sorted(pair, reverse=True) if not atoms.arrays[CORE_KEY][i]]
    if not candidates:
        raise ValueError("two core atoms overlap with their images: increase buffer_radius")
    return candidates[0]


def cap_length(element: str) -> float:
    """X–H bond length used for passivation: sum of covalent radii."""
    return float(covalent_radii[atomic_numbers[element]] + covalent_radii[1])


def cluster_cutout(
    frame: Atoms,
    center: int,
    core_radius: float,
    buffer_radius: float,
    vacuum: float = 6.0,
    passivate: bool = True,
) -> Atoms:
    """Sphere of ``buffer_radius`` in vacuum; cut bonds capped with hydrogen if asked."""
    if core_radius >= buffer_radius:
        raise ValueError("core_radius must be smaller than buffer_radius")
    vectors = displacements(frame, center)
    inside = np.linalg.norm(vectors, axis=1) <= buffer_radius
    cluster = _masked(
        Atoms(frame.numbers[inside], positions=vectors[inside]), vectors[inside],
        core_radius, center,
    )
    if passivate:
        cluster = cluster + _caps(frame, np.flatnonzero(inside), vectors)
    cluster.center(vacuum=vacuum)
    cluster.pbc = False
    return cluster


def _caps(frame: Atoms, members: np.ndarray, vectors: np.ndarray) -> Atoms:
    """Hydrogens on every covalent bond from a member to an atom outside the cluster."""
    first, second, bond = neighbor_list("ijD", frame, natural_cutoffs(frame, mult=BOND_TOLERANCE))
    member = np.zeros(len(frame), dtype=bool)
    member[members] = True
    cut = member[first] & ~member[second]
    positions = [
        vectors[i] + bond_vec / np.linalg.norm(bond_vec) * cap_length(frame[i].symbol)
        for i, bond_vec in zip(first[cut], bond[cut], strict=True)
    ]
    caps = Atoms("H" * len(positions), positions=np.reshape(positions, (-1, 3)))
    caps.set_tags(CAP_TAG)
    caps.arrays[CORE_KEY] = np.zeros(len(caps), dtype=bool)
    caps.arrays[FORCE_WEIGHT_KEY] = np.zeros(len(caps))
    return caps


def strip_caps(labelled: Atoms) -> Atoms:
    """A labelled cluster without its passivating hydrogens (labels of the rest kept)."""
    kept: Atoms = labelled[labelled.get_tags() != CAP_TAG]
    return kept


def high_gamma_centres(frame: Atoms, threshold: float, core_radius: float, limit: int) -> list[int]:
    """Atoms to cut around: γ >= ``threshold``, highest first, cores not overlapping.

    An atom inside an already chosen core is covered by that cut-out, so it is skipped.
    """
    gamma = np.asarray(frame.arrays["gamma"], dtype=float)
    centres: list[int] = []
    for atom in np.argsort(-gamma):
        if gamma[atom] < threshold or len(centres) >= limit:
            break
        if all(frame.get_distance(int(atom), c, mic=True) > core_radius for c in centres):
            centres.append(int(atom))
    return centres


def relax_buffer(cut: Atoms, calc: object, fmax: float = 0.1, steps: int = 20) -> Atoms:
    """Relax the buffer (and caps) with ``calc`` while the core stays fixed (``FixAtoms``).

    The core keeps the MD geometry the potential was uncertain about; the buffer
    loses the strain of the cut. A few BFGS steps suffice: the buffer is not learned.
    """
    work = cut.copy()
    work.calc = calc
    work.set_constraint(FixAtoms(mask=work.arrays[CORE_KEY]))
    BFGS(work, logfile=None).run(fmax=fmax, steps=steps)
    relaxed: Atoms = work.copy()
    relaxed.set_constraint()
    relaxed.calc = None
    return relaxed
