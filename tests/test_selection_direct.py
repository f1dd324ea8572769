"""DIRECT sampling, the pre-DFT screen and the selection maker."""

from __future__ import annotations

import numpy as np
from ase import Atom
from ase.build import bulk

from pyacemaker.data import read_dataset, write_dataset
from pyacemaker.selection.cover import environment_cover
from pyacemaker.selection.direct import coverage_radius, direct_sampling, random_sampling
from pyacemaker.selection.fps import farthest_point_sampling
from pyacemaker.selection.jobs import DiversitySelectMaker
from pyacemaker.selection.screen import screen
from pyacemaker.structures.generators import rattle_cells, strain_cells


def clusters(seed: int = 0) -> np.ndarray:
    """A known descriptor set: 8 clusters of very unequal size (200 ... 3 points) in 5-D."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-10, 10, (8, 5))
    sizes = [200, 100, 50, 20, 10, 5, 4, 3]
    return np.vstack([c + rng.normal(0, 0.3, (s, 5)) for c, s in zip(centres, sizes, strict=True)])


def test_direct_and_fps_cover_better_than_random() -> None:
    x = clusters()
    n = 10
    direct = direct_sampling(x, n, seed=1)
    fps = farthest_point_sampling(x, n)
    randoms = [coverage_radius(x, random_sampling(len(x), n, s).indices) for s in range(30)]
    assert len(set(direct.indices)) == n
    assert coverage_radius(x, direct.indices) < 0.5 * np.mean(randoms)
    assert coverage_radius(x, fps.indices) < 0.5 * np.mean(randoms)
    # every one of the 8 clusters (even the 3-point one) gets at least one DIRECT pick
    labels = np.repeat(np.arange(8), [200, 100, 50, 20, 10, 5, 4, 3])
    assert set(labels[direct.indices]) == set(range(8))
    assert all(r.startswith("DIRECT: cluster") for r in direct.reasons())
    assert direct.indices == direct_sampling(x, n, seed=1).indices  # deterministic


def test_direct_with_fewer_clusters_stratifies() -> None:
    x = clusters()
    sel = direct_sampling(x, 12, n_clusters=4, seed=0)
    assert len(set(sel.indices)) == 12
    per_cluster = [r.split(" of ")[0] for r in sel.reasons()]
    assert len(set(per_cluster)) == 4 and max(per_cluster.count(c) for c in per_cluster) == 3


def test_screen_rejects_fused_atoms_with_reason() -> None:
    ok = bulk("Cu", "fcc", a=3.61) * (2, 1, 1)
    fused = ok.copy()
    fused.positions[1] = fused.positions[0] + [0.5, 0.0, 0.0]
    result = screen([ok, fused], 0.6)
    assert result.kept == [0] and "too close" in result.rejected[1]
    assert "too close" in fused.info["rejected"]


def test_select_maker_screens_then_picks_direct(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cu = bulk("Cu", "fcc", a=3.61)
    cu8 = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 1, 1)
    cands = strain_cells([cu, cu8], 12, volumetric=0.05, shear=0.05, seed=0)
    cands += rattle_cells([cu8], 12, temperatures=[300, 900], seed=1)
    fused = cu8.copy()
    fused.positions[1] = fused.positions[0] + [0.4, 0.0, 0.0]
    path = write_dataset(tmp_path / "c.xyz", [*cands, fused])
    maker = DiversitySelectMaker(n=6, method="direct", seed=3)
    doc = maker.make.original(maker, str(path), str(tmp_path / "sel"))  # type: ignore[attr-defined]
    assert len(doc.indices) == 6 and 24 not in doc.indices and 24 in doc.rejected
    assert doc.descriptor.startswith("radial") and doc.method == "direct"
    chosen = read_dataset(doc.dataset)
    assert {a.info["config_type"] for a in chosen} == {"strain", "rattle"}
    assert all(a.info["selection"].startswith("DIRECT") for a in chosen)


def test_environment_cover_takes_each_new_environment_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Greedy cover: gains never rise, a copy of a picked cell adds nothing, every kind is met.

    The pool is one 8-atom strained cell ten times over, a vacancy cell and an
    interstitial cell (each with environments no other cell has) and two rattled cells;
    five picks must take one copy only and both defects. Measured over pool seeds 0-4 x
    k-means seeds 0-4: 25 of 25 hold, with margin (the first copy gains 80 atoms of
    uncovered environments, a second copy 0, each defect cell 4-12).
    """
    cu8 = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 1, 1)
    strained = strain_cells([cu8], 1, volumetric=0.03, shear=0.03, seed=0)[0]
    vacancy = cu8.copy()
    del vacancy[3]
    interstitial = cu8.copy()
    interstitial.append(Atom("Cu", (1.8, 1.8, 1.8)))
    pool = [strained.copy() for _ in range(10)]
    pool += [vacancy, interstitial, *rattle_cells([cu8], 2, temperatures=[600], seed=2)]
    sel = environment_cover(pool, 5, seed=1)
    assert sel.indices == environment_cover(pool, 5, seed=1).indices  # deterministic
    assert len(set(sel.indices)) == 5 and sum(i < 10 for i in sel.indices) == 1
    assert {10, 11} <= set(sel.indices)
    assert all(a >= b for a, b in zip(sel.distances, sel.distances[1:], strict=False))
    assert all(r.startswith("environment cover") for r in sel.reasons())
    path = write_dataset(tmp_path / "c.xyz", pool)
    maker = DiversitySelectMaker(n=5, method="cover", seed=1)
    doc = maker.make.original(maker, str(path), str(tmp_path / "sel"))  # type: ignore[attr-defined]
    assert doc.indices == sel.indices and doc.descriptor.startswith("per-atom radial")
