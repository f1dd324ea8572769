"""Cut-out geometry: core/buffer membership, periodic boxes, passivation, force masks."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list

from pyacemaker.ace.pacemaker import to_pacemaker_frame
from pyacemaker.data import attach_labels
from pyacemaker.embedding.cutout import (
    CORE_KEY,
    ENERGY_WEIGHT_KEY,
    FORCE_WEIGHT_KEY,
    cap_length,
    cluster_cutout,
    high_gamma_centres,
    nearest_neighbour_distance,
    periodic_cutout,
    relax_buffer,
    strip_caps,
)


@pytest.fixture
def cu_frame() -> Atoms:
    frame = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(4)
    frame.rattle(0.05, seed=4)
    return frame


def test_core_atoms_are_within_core_radius_and_weighted_one(cu_frame: Atoms) -> None:
    cut = periodic_cutout(cu_frame, 17, core_radius=2.7, buffer_radius=3.9)
    distances = np.linalg.norm(
        cu_frame.get_distances(17, range(len(cu_frame)), mic=True, vector=True), axis=1
    )
    assert cut.arrays[CORE_KEY].sum() == np.sum(distances <= 2.7) == 13  # centre + 12 neighbours
    assert np.array_equal(cut.arrays[FORCE_WEIGHT_KEY], cut.arrays[CORE_KEY].astype(float))
    assert cut.info[ENERGY_WEIGHT_KEY] == 0.0
    # the centre sits in the middle of the box with the frame's local geometry around it
    middle = int(np.argmin(np.linalg.norm(cut.positions - 3.9, axis=1)))
    assert np.allclose(cut.positions[middle], 3.9)
    core = np.flatnonzero(cut.arrays[CORE_KEY])
    expected = np.sort(distances[distances <= 2.7])
    assert np.allclose(np.sort(cut.get_distances(middle, core)), expected)


@pytest.mark.parametrize("buffer_radius", [3.61, 3.9, 4.3])  # commensurate or not with fcc
def test_periodic_box_is_free_of_overlap_with_its_images(
    cu_frame: Atoms, buffer_radius: float
) -> None:
    d_nn = nearest_neighbour_distance(cu_frame)
    cut = periodic_cutout(cu_frame, 5, 2.7, buffer_radius, min_distance_fraction=0.8)
    assert np.allclose(cut.cell.lengths(), 2 * buffer_radius) and cut.pbc.all()
    assert neighbor_list("d", cut, 0.8 * d_nn).size == 0  # images included
    assert cut.arrays[CORE_KEY].sum() == 13  # the core is never thinned


def test_commensurate_box_is_perfect_bulk() -> None:
    frame = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(4)
    cut = periodic_cutout(frame, 0, 2.7, 3.61)
    assert len(cut) == 32  # exactly the 2x2x2 cubic supercell: no atom lost or doubled
    assert nearest_neighbour_distance(cut) == pytest.approx(3.61 / np.sqrt(2))


def test_silicon_cluster_is_capped_with_hydrogen_at_covalent_bond_length() -> None:
    si = bulk("Si", "diamond", a=5.43, cubic=True).repeat(3)
    cluster = cluster_cutout(si, 0, core_radius=2.5, buffer_radius=4.0, vacuum=5.0)
    assert not cluster.pbc.any()
    hydrogens = np.flatnonzero(cluster.numbers == 1)
    silicons = np.flatnonzero(cluster.numbers == 14)
    assert len(silicons) == 17 and len(hydrogens) > 0
    expected = covalent_radii[14] + covalent_radii[1]
    assert cap_length("Si") == pytest.approx(expected) == pytest.approx(1.42, abs=0.01)
    for h in hydrogens:
        bond = cluster.get_distances(h, silicons).min()
        assert bond == pytest.approx(expected, abs=1e-6)
    # every Si has four neighbours (Si or H): no dangling bond is left
    first, second = neighbor_list("ij", cluster, {("Si", "Si"): 2.6, ("Si", "H"): 1.6})
    counts = np.bincount(first[np.isin(first, silicons)], minlength=len(cluster))[silicons]
    assert np.all(counts == 4) and second.size
    weights = cluster.arrays[FORCE_WEIGHT_KEY]
    assert weights[hydrogens].sum() == 0 and weights.sum() == 5  # centre + 4 bonded
    assert len(strip_caps(cluster)) == 17


def test_buffer_relaxes_while_core_stays_fixed(cu_frame: Atoms) -> None:
    cut = periodic_cutout(cu_frame, 3, 2.7, 3.9)
    relaxed = relax_buffer(cut, EMT(), fmax=0.05, steps=15)
    moved = np.linalg.norm(relaxed.positions - cut.positions, axis=1)
    assert np.all(moved[cut.arrays[CORE_KEY]] == 0.0) and moved.max() > 1e-3
    assert not relaxed.constraints


def test_force_mask_reaches_the_pacemaker_frame(cu_frame: Atoms) -> None:
    cut = periodic_cutout(cu_frame, 3, 2.7, 3.9)
    calc = EMT()
    work = cut.copy()
    work.calc = calc
    labelled = attach_labels(cut, work.get_potential_energy(), work.get_forces(), None, "emt")
    labelled.info["weight"] = 10.0
    row = to_pacemaker_frame([labelled], {"Cu": 0.0}).iloc[0]
    assert row.w_energy == 0.0
    assert np.array_equal(row.w_forces, 10.0 * cut.arrays[CORE_KEY])


def test_centres_are_high_gamma_atoms_with_disjoint_cores(cu_frame: Atoms) -> None:
    gamma = np.ones(len(cu_frame))
    gamma[[0, 1, 40]] = [9.0, 8.0, 7.0]  # atoms 0 and 1 are neighbours
    cu_frame.arrays["gamma"] = gamma
    assert cu_frame.get_distance(0, 1, mic=True) < 2.7
    assert high_gamma_centres(cu_frame, 2.0, 2.7, limit=5) == [0, 40]
    assert high_gamma_centres(cu_frame, 2.0, 2.7, limit=1) == [0]
