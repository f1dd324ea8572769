"""Candidate generators and the generator-mix policy: invariants, determinism, reasons."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.emt import EMT

from pyacemaker.config.schema import RunConfig, SamplingConfig, StructureConfig
from pyacemaker.structures.generators import (
    antisite_cells,
    exact_counts,
    interstitial_cells,
    min_distance,
    min_distance_ratio,
    normal_mode_cells,
    pair_correlation,
    random_alloy_cells,
    rattle_cells,
    slab_cells,
    strain_cells,
    thermal_sigma,
    vacancy_cells,
)
from pyacemaker.structures.jobs import CandidateMaker
from pyacemaker.structures.policy import classify, generator_mix, split_counts

CU = bulk("Cu", "fcc", a=3.61)
CU8 = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 1, 1)
GAAS8 = bulk("GaAs", "zincblende", a=5.65, cubic=True)


def positions_equal(a: list[Atoms], b: list[Atoms]) -> bool:
    return all(np.allclose(x.positions, y.positions) for x, y in zip(a, b, strict=True))


def test_strain_separates_volumetric_and_shear() -> None:
    cells = strain_cells([CU, CU8], 8, volumetric=0.04, shear=0.04, seed=1)
    assert positions_equal(cells, strain_cells([CU, CU8], 8, volumetric=0.04, shear=0.04, seed=1))
    for i, atoms in enumerate(cells):
        parent = [CU, CU8][i % 2]
        ratio = atoms.get_volume() / parent.get_volume()
        if i % 2 == 0:  # volumetric: isotropic, so the cell shape is kept
            assert 0.88 < ratio < 1.13
            assert np.allclose(atoms.cell.angles(), parent.cell.angles())
        else:  # traceless shear: volume kept to first order
            assert ratio == pytest.approx(1.0, abs=0.01)
        assert atoms.info["config_type"] == "strain" and len(atoms) == len(parent)


def test_thermal_rattle_follows_equipartition() -> None:
    # Cu, 300 K, 5 THz Einstein solid: sigma = sqrt(kT/m)/(2 pi nu) = 0.063 A.
    assert thermal_sigma(["Cu"], 300.0, 5.0)[0] == pytest.approx(0.0628, rel=0.02)
    big = bulk("Cu", "fcc", a=3.61, cubic=True) * (3, 3, 3)
    hot = rattle_cells([big], 1, temperatures=[1200.0], seed=3)[0]
    cold = rattle_cells([big], 1, temperatures=[300.0], seed=3)[0]
    spread = [np.std(a.positions - big.positions) for a in (cold, hot)]
    assert spread[1] / spread[0] == pytest.approx(2.0, rel=0.15)  # sigma ~ sqrt(T)
    assert cold.info["temperature_K"] == 300.0


def test_point_defects_change_counts_not_physics() -> None:
    vac = vacancy_cells(CU8, 3, seed=0)
    inter = interstitial_cells(CU8, 3, seed=0)
    assert {len(a) for a in vac} == {7} and {len(a) for a in inter} == {9}
    assert all(min_distance_ratio(a) > 0.6 for a in vac + inter)
    assert min(min_distance(a) for a in inter) > 1.5  # the void of fcc Cu, not on top of an atom
    anti = antisite_cells(GAAS8, 2, seed=0)
    for atoms in anti:
        assert sorted(atoms.get_chemical_symbols()) == sorted(GAAS8.get_chemical_symbols())
        assert "antisite" in atoms.info["defect"]
    with pytest.raises(ValueError, match="two elements"):
        antisite_cells(CU8, 1, seed=0)


def test_slabs_have_vacuum_and_keep_bulk_periodicity() -> None:
    for slab in slab_cells(CU, [(1, 0, 0), (1, 1, 1)], layers=3, vacuum=6.0):
        assert slab.pbc.all() and len(slab) == 3
        z = slab.positions[:, 2]
        gap = slab.cell.lengths()[2] - (z.max() - z.min())
        assert gap >= 12.0 - 1e-6  # 6 A on each side
        assert min_distance(slab) == pytest.approx(3.61 / np.sqrt(2), rel=1e-6)


def test_random_alloy_has_exact_composition_and_sqs_like_order() -> None:
    lattice = bulk("Cu", "fcc", a=3.7, cubic=True) * (2, 2, 2)  # 32 sites
    cells = random_alloy_cells(lattice, {"Cu": 0.5, "Au": 0.5}, 2, seed=4, trials=30)
    for atoms in cells:
        assert atoms.get_chemical_symbols().count("Au") == 16
        # first-shell unlike fraction near the random-alloy value 1 - sum(c^2) = 0.5
        assert pair_correlation(atoms, [2.7])[0] == pytest.approx(0.5, abs=0.1)
    assert exact_counts({"Cu": 3, "Au": 1}, 8) == {"Cu": 6, "Au": 2}
    with pytest.raises(ValueError, match="exactly"):
        exact_counts({"Cu": 1, "Au": 2}, 8)


def test_normal_modes_displace_along_vibrations(tmp_path) -> None:  # type: ignore[no-untyped-def]
    water = molecule("H2O")
    water.center(vacuum=4.0)
    cells = normal_mode_cells(water, EMT(), 3, temperature_K=300.0, seed=2, workdir=tmp_path)
    moved = [np.abs(a.positions - water.positions).max() for a in cells]
    assert all(0.001 < m < 0.5 for m in moved)
    for atoms in cells:  # vibrations, not translations: centre of mass stays put
        assert np.allclose(atoms.get_center_of_mass(), water.get_center_of_mass(), atol=1e-3)


def test_policy_classifies_and_explains() -> None:
    assert classify(CU) == "metal"
    assert classify(bulk("Si", "diamond", a=5.43)) == "covalent"
    assert classify(GAAS8) == "compound"
    assert classify(molecule("H2O")) == "molecule"
    alloy = CU8.copy()
    alloy.symbols[0] = "Au"
    assert classify(alloy) == "alloy"
    small = generator_mix("metal", 4)
    assert "vacancy" not in small.shares and any("no point defects" in r for r in small.reasons)
    assert "vacancy" in generator_mix("metal", 8).shares
    assert split_counts({"a": 0.35, "b": 0.4, "c": 0.25}, 10) == {"a": 4, "b": 4, "c": 2}


def test_candidate_maker_runs_the_mix(tmp_path) -> None:  # type: ignore[no-untyped-def]
    sampling = SamplingConfig(n_candidates=20, n_test=2, supercell_atoms=8)
    maker = CandidateMaker(structure=StructureConfig(formula="Cu", a=3.61), sampling=sampling)
    doc = maker.make.original(maker, str(tmp_path))  # type: ignore[attr-defined]
    assert doc.material_class == "metal" and sum(doc.generator_counts.values()) == 20
    assert set(doc.generator_counts) == {"strain", "rattle", "vacancy", "interstitial"}


def test_plan_records_mix_and_rejects_unknown_generators() -> None:
    from pyacemaker.config.errors import ConfigError
    from pyacemaker.config.plan import expand

    base = {"structure": "Cu", "oracle": {"engine": "ase.calculators.emt.EMT"}}
    plan = expand(RunConfig.model_validate(base))
    assert plan.sampling.material_class == "metal" and plan.sampling.generators
    assert any("material class 'metal'" in note for note in plan.notes)
    bad = RunConfig.model_validate({**base, "sampling": {"generators": {"wobble": 1.0}}})
    with pytest.raises(ConfigError, match="wobble"):
        expand(bad)


def test_melt_quench_goes_through_the_liquid() -> None:
    from pyacemaker.dynamics.ase_md import sample_md
    from pyacemaker.structures.generators import melt_quench

    start = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2)
    frames = melt_quench(
        start, EMT(), sample_md, t_melt=3000.0, t_final=300.0, steps=200, interval=50, seed=1
    )
    assert len(frames) == 8 and {a.info["config_type"] for a in frames} == {"melt_quench"}
    # hot frames are far more disordered than the lattice; nothing fused
    hot = np.sqrt(np.mean((frames[3].positions - start.positions) ** 2))
    assert hot > 0.15 and all(min_distance_ratio(a) > 0.6 for a in frames)


def test_molecules_get_normal_modes_only_with_a_model() -> None:
    assert generator_mix("molecule", 8).shares == {"rattle": 1.0}
    with_model = generator_mix("molecule", 8, has_model=True)
    assert "normal_modes" in with_model.shares and "foundation" in with_model.reasons[-1]
