"""Where a fitted ACE hands over to its ZBL core: a margin below the training data.

Each bond of an ACE potential has an inner cutoff ``r_in``: below it the ACE radial
functions are switched off (over ``delta_in`` = 0.1 Å) and a ZBL screened nuclear
repulsion takes over, so MD can never fuse atoms. Pacemaker's ``fit: repulsion: auto``
puts ``r_in`` exactly at the shortest distance of that element pair in the training
data. A structure with one pair slightly closer than any training pair then meets the
bare ZBL, which is right only far inside the bonding distance: a held-out cell drawn
from the same strain/rattle distribution as the training cells, routine for a small
random binary dataset, came out eV off. Measured (EMT Ni-Al, 12 training cells, shortest
Ni-Ni 2.434 Å; one held-out Ni-Ni pair at 2.35 Å): held-out 1261 meV/atom, 11.7 eV/Å with
``r_in`` at the shortest distance; 1.90 meV/atom, 0.0215 eV/Å with ``r_in`` at 0.95, 0.9,
0.85, 0.8 or 0.7 of it (the ACE extrapolates smoothly over that range), training errors
unchanged. ``CORE_FRACTION`` = 0.85 covers the largest shortfall seen (a held-out Cu-Pt
pair at 0.917 of the shortest training one) with room, and keeps the ZBL wall at
bonding-scale distances (several eV per pair there).

The inner cutoff is placed here, on the basis file, and pacemaker's ``repulsion: auto`` is
not used: a continued fit starts from a parent whose ``r_in`` already sits where the new
data put it (TensorFlow optimises with that cutoff), and every written potential gets the
same placement again, so the optimised and the written model are the same function
(docs/validation.md, "fit guard").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from pyace import ACEBBasisSet, BBasisConfiguration
from pyace.generalfit import setup_zbl_inner_core_repulsion
from pyace.utils.utils import complement_min_dist_dict

CORE_FRACTION = 0.85  # r_in per bond = this x the shortest training distance of the pair


def shortest_bonds(
    structures: Sequence[Atoms], elements: list[str], cutoff: float
) -> dict[tuple[int, int], float]:
    """Shortest distance per element pair, keyed as pacemaker keys it (sorted indices)."""
    index = {el: i for i, el in enumerate(elements)}
    shortest: dict[tuple[int, int], float] = {}
    for atoms in structures:
        first, second, dist = neighbor_list("ijd", atoms, cutoff)
        symbols = [str(s) for s in atoms.symbols]
        for i, j, d in zip(first, second, dist, strict=True):
            a, b = sorted((index[symbols[i]], index[symbols[j]]))
            shortest[a, b] = min(float(d), shortest.get((a, b), np.inf))
    return shortest


def place_inner_core(potential: Path, structures: Sequence[Atoms], out: Path) -> Path:
    """Write ``potential`` to ``out`` with each bond's ZBL core below ``structures``' pairs.

    ``r_in`` = CORE_FRACTION x the shortest distance of the pair in ``structures`` (pairs
    that never occur get pacemaker's fill-in from the others); every pair of
    ``structures`` stays outside the core, so their predictions do not change.
    """
    conf = BBasisConfiguration(str(potential))
    elements = sorted(ACEBBasisSet(str(potential)).elements_name)
    cutoff = max(block.rcutij for block in conf.funcspecs_blocks)
    shortest = shortest_bonds(structures, elements, cutoff)
    bonds = complement_min_dist_dict(shortest, shortest, elements, False)
    setup_zbl_inner_core_repulsion(conf, {k: CORE_FRACTION * d for k, d in bonds.items()})
    conf.save(str(out))
    return out
