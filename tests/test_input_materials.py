"""Materials input: compounds by prototype, alloys over compositions, several phases.

Every accepted ``structure:`` form expands to a plan that names its phases and splits
the budget over them, and the candidate stage covers every phase (``info["phase"]``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write
from ase.neighborlist import neighbor_list

from pyacemaker.config.errors import parse_config
from pyacemaker.config.plan import expand
from pyacemaker.config.schema import SamplingConfig, StructureConfig
from pyacemaker.data import read_dataset
from pyacemaker.structures.jobs import CandidateMaker
from pyacemaker.structures.phases import build_phases

EMT = {"oracle": {"engine": "ase.calculators.emt.EMT"}, "teacher": {"foundation": "none"}}


@pytest.mark.parametrize(
    ("structure", "crystal", "formula", "a"),
    [
        ("TiO2", "rutile", "O4Ti2", 4.59),
        ("GaAs", "zincblende", "AsGa", 5.65),
        ("SrTiO3", "perovskite", "O3SrTi", 3.91),
        ("ZnO", "wurtzite", "O2Zn2", 3.25),
        ("Li2O", "fluorite", "Li2O", 4.61),
        ("NiAl", "cesiumchloride", "AlNi", 2.89),
        ({"formula": "NaCl"}, "rocksalt", "ClNa", 5.64),
        ({"formula": "AlP"}, "zincblende", "AlP", None),  # not tabulated: radius rule
    ],
)
def test_compounds_get_their_default_prototype_and_lattice(
    structure: object, crystal: str, formula: str, a: float | None
) -> None:
    plan = expand(parse_config({"structure": structure, **EMT}))
    (phase,) = plan.phases
    assert phase.name.endswith(crystal) and phase.formula == formula
    note = next(n for n in plan.notes if n.startswith("structure:"))
    assert (f"a {a} Å" in note) if a else "covalent radii" in note


def test_rutile_and_antifluorite_cells_are_right() -> None:
    (rutile,), _ = build_phases(StructureConfig(formula="TiO2"))
    i, d = neighbor_list("id", rutile.atoms, 2.2)
    ti = rutile.atoms.get_chemical_symbols().index("Ti")
    # Ti-O bonds of rutile: 1.95-1.98 Å (four equatorial, two apical), nothing else this close
    assert np.sort(d[i == ti]) == pytest.approx([1.95] * 4 + [1.98] * 2, abs=0.03)
    (li2o,), _ = build_phases(StructureConfig(formula="Li2O"))
    assert li2o.atoms[0].symbol == "O"  # the anion sits at the fcc sites


def test_alloy_compositions_are_phases_with_exact_counts() -> None:
    data = {"structure": {"alloy": {"elements": ["Ag", "Pd"], "x_range": [0.25, 0.75]}}, **EMT}
    plan = expand(parse_config(data))
    assert [p.name for p in plan.phases] == ["fcc-Ag25Pd75", "fcc-Ag50Pd50", "fcc-Ag75Pd25"]
    assert sum(p.n_candidates for p in plan.phases) == plan.sampling.n_candidates
    assert sum(p.n_test for p in plan.phases) == plan.sampling.n_test
    volumes = [p.volume_per_atom for p in plan.phases]
    assert volumes == sorted(volumes)  # Vegard: more Ag (the larger atom), larger volume
    assert plan.sampling.material_class == "alloy"


def test_multi_frame_file_and_file_list_are_phases(tmp_path: Path) -> None:
    write(tmp_path / "two.extxyz", [bulk("Cu", "fcc", a=3.6), bulk("Cu", "bcc", a=2.87)])
    write(tmp_path / "hcp.cif", bulk("Cu", "hcp", a=2.55))
    data = {"structure": {"file": ["two.extxyz", "hcp.cif"]}, **EMT}
    plan = expand(parse_config(data, tmp_path))
    assert [p.name for p in plan.phases] == ["Cu-two.extxyz#0", "Cu-two.extxyz#1", "Cu2-hcp.cif"]
    alloy = {"alloy": {"elements": ["Ni", "Al"], "compositions": [0.5]}, "file": "hcp.cif"}
    assert len(expand(parse_config({"structure": alloy, **EMT}, tmp_path)).phases) == 2


def test_candidates_cover_every_phase(tmp_path: Path) -> None:
    structure = StructureConfig.model_validate(
        {"alloy": {"elements": ["Ni", "Al"], "compositions": [0.25, 0.5, 0.75]}}
    )
    maker = CandidateMaker(
        structure=structure, sampling=SamplingConfig(n_candidates=12, n_test=3), eos_points=5
    )
    doc = maker.make.original(maker, str(tmp_path))
    for path, per_phase in ((doc.candidates, 4), (doc.test, 1), (doc.eos, 5)):
        counts = Counter(a.info["phase"] for a in read_dataset(path))
        assert counts == {"fcc-Ni25Al75": per_phase, "fcc-Ni50Al50": per_phase,
                          "fcc-Ni75Al25": per_phase}  # fmt: skip
    decorated = [a for a in read_dataset(doc.candidates) if a.info["config_type"] == "random_alloy"]
    assert {a.get_chemical_formula() for a in decorated} == {"Al6Ni2", "Al4Ni4", "Al2Ni6"}


def test_every_further_phase_gets_eos_checks(tmp_path: Path) -> None:
    """EMT against its own labels passes on each phase; a nonsense LJ fails with a reason."""
    from ase.calculators.emt import EMT
    from ase.calculators.lj import LennardJones

    from pyacemaker.config.schema import ValidationConfig
    from pyacemaker.data import attach_labels
    from pyacemaker.validation.suite import phase_eos_checks

    structure = StructureConfig.model_validate(
        {"alloy": {"elements": ["Ni", "Al"], "compositions": [0.25, 0.75]}}
    )
    maker = CandidateMaker(structure=structure, sampling=SamplingConfig(n_candidates=2, n_test=2))
    cells = read_dataset(maker.make.original(maker, str(tmp_path)).eos)
    labelled = []
    for atoms in cells:
        atoms.calc = EMT()
        labelled.append(attach_labels(atoms, atoms.get_potential_energy(), atoms.get_forces(),
                                      None, "EMT"))  # fmt: skip
    cfg = ValidationConfig()
    good = phase_eos_checks(labelled, EMT(), cfg, skip="fcc-Ni25Al75")
    assert good and all(c.passed and c.name.startswith("[fcc-Ni75Al25] EOS") for c in good)
    bad = phase_eos_checks(labelled, LennardJones(sigma=3.0, rc=6.0), cfg, skip=None)
    assert {c.name for c in bad} == {"[fcc-Ni25Al75] EOS", "[fcc-Ni75Al25] EOS"}
    assert all(not c.passed and "Optimal parameters" in c.reason for c in bad)


@pytest.mark.parametrize("example", ["alloy/nial.yaml", "compound/sic.yaml"])
def test_example_configs_validate(example: str) -> None:
    from pyacemaker.config.errors import load_config

    plan = expand(load_config(Path(__file__).parents[1] / "workflows" / example))
    assert len(plan.phases) == (3 if "alloy" in example else 1)
    assert len(plan.elements) == 2
