"""Candidate generation and farthest-point selection."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from pyacemaker.config.schema import StructureConfig
from pyacemaker.selection.descriptors import structure_descriptors
from pyacemaker.selection.fps import farthest_point_sampling, radial_descriptor
from pyacemaker.structures.generate import (
    build_prototype,
    strain_rattle,
    supercell_repeat,
    volume_series,
)


def test_prototype_from_formula_and_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    si = build_prototype(StructureConfig(formula="Si", crystal="diamond", a=5.43))
    assert len(si) == 2 and si.get_volume() == pytest.approx(5.43**3 / 4)
    path = tmp_path / "cu.xyz"
    bulk("Cu", "fcc", a=3.6, cubic=True).write(path)
    assert len(build_prototype(StructureConfig(file=path))) == 4


def test_supercell_reaches_minimum_atoms_compactly() -> None:
    si = bulk("Si", "diamond", a=5.43)
    assert supercell_repeat(si, 2) == (1, 1, 1)
    reps = supercell_repeat(si, 16)
    assert 2 * np.prod(reps) >= 16 and max(reps) - min(reps) <= 1


def test_strain_rattle_is_deterministic_and_bounded() -> None:
    si = bulk("Si", "diamond", a=5.43)
    first = strain_rattle(si, 6, max_strain=0.04, rattle=0.05, min_atoms=8, seed=1)
    again = strain_rattle(si, 6, max_strain=0.04, rattle=0.05, min_atoms=8, seed=1)
    other = strain_rattle(si, 6, max_strain=0.04, rattle=0.05, min_atoms=8, seed=2)
    assert all(np.allclose(a.positions, b.positions) for a, b in zip(first, again, strict=True))
    assert not np.allclose(first[0].positions, other[0].positions)
    assert [len(a) for a in first] == [2, 8] * 3
    for atoms in first:
        assert atoms.get_all_distances(mic=True)[np.triu_indices(len(atoms), 1)].min() > 1.8
        ratio = atoms.get_volume() / len(atoms) / (si.get_volume() / 2)
        assert 0.85 < ratio < 1.15
        assert atoms.info["config_type"] == "strain_rattle"


def test_volume_series_spans_requested_strain() -> None:
    cells = volume_series(bulk("Cu", "fcc", a=3.6), 5, 0.1)
    vols = [c.get_volume() for c in cells]
    assert vols[0] / vols[2] == pytest.approx(0.9) and vols[-1] / vols[2] == pytest.approx(1.1)


def test_fps_covers_descriptor_space_better_than_random() -> None:
    # Known descriptor set: a dense cluster plus a few far outliers. FPS must reach
    # all outliers; the worst-covered point must be closer than with random picks.
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 0.1, (200, 3)), rng.normal(0, 0.1, (3, 3)) + 5 * np.eye(3)])
    picked = farthest_point_sampling(x, 10).indices
    assert set(range(200, 203)) <= set(picked)

    def coverage(idx: list[int]) -> float:
        d = np.linalg.norm(x[:, None] - x[idx][None], axis=2)
        return float(d.min(axis=1).max())

    random_cov = np.mean([coverage(list(rng.choice(203, 10, replace=False))) for _ in range(50)])
    assert coverage(picked) < 0.5 * random_cov


def test_select_diverse_prefers_distinct_structures() -> None:
    si = bulk("Si", "diamond", a=5.43)
    same = [si.copy() for _ in range(5)]
    strained = si.copy()
    strained.set_cell(si.cell * 1.05, scale_atoms=True)
    features, name = structure_descriptors([*same, strained], None)
    sel = farthest_point_sampling(features, 2)
    assert name.startswith("radial")
    assert 5 in sel.indices
    assert len(radial_descriptor(si)) == 41
    assert sel.reasons()[1].startswith("farthest-point pick")


def test_strained_cells_keep_the_parent_k_grid() -> None:
    # Without this, the EOS series of the quickstart had its k-grid jump from 6 to 5
    # divisions between volumes, a 20 meV/atom step in the DFT energies.
    from pyacemaker.dft.qe import kpoint_grid

    si = bulk("Si", "diamond", a=5.43)
    cells = volume_series(si, 7, 0.06)
    assert {kpoint_grid(c, 0.4) for c in cells} == {kpoint_grid(si, 0.4)}
    plain = [c.copy() for c in cells]
    for atoms in plain:
        del atoms.info["kpoint_cell"]
    assert len({kpoint_grid(c, 0.4) for c in plain}) > 1
    strained = strain_rattle(si, 4, max_strain=0.04, rattle=0.05, min_atoms=8, seed=1)
    assert {kpoint_grid(c, 0.4) for c in strained[::2]} == {kpoint_grid(si, 0.4)}
