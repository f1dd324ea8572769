"""The energy zero: isolated atoms from the oracle (EMT, real pw.x), cached, with fallback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from pyacemaker.data import read_dataset, write_dataset
from pyacemaker.dft.oracle import OracleSpec
from pyacemaker.dft.qe import QESettings
from pyacemaker.dft.reference import (
    CACHE_FILE,
    least_squares_references,
    reference_energies,
)
from pyacemaker.oracle import label_with

EMT_SPEC = OracleSpec(engine="ase.calculators.emt.EMT")
PSEUDO_DIR = Path("/usr/share/espresso/pseudo")
needs_pw = pytest.mark.skipif(
    shutil.which("pw.x") is None or not (PSEUDO_DIR / "Si.pbe-rrkj.UPF").is_file(),
    reason="needs pw.x and quantum-espresso-data",
)


def labelled_dataset(folder: Path, structures: list[Atoms]) -> str:
    """EMT-labelled structures written as the extxyz a DFT stage leaves."""
    labelled = [label_with(a, EMT(), "ase:EMT") for a in structures]
    return str(write_dataset(folder / "train.xyz", labelled))


def cuau(folder: Path) -> str:
    cells = []
    for a in (3.9, 4.0, 4.1):
        cell = bulk("Cu", "fcc", a=a, cubic=True)
        cell.set_chemical_symbols(["Cu", "Au", "Cu", "Au"])  # one stoichiometry only
        cells.append(cell)
    return labelled_dataset(folder, cells)


def test_emt_reference_is_emts_own_isolated_atom_energy_and_is_cached(tmp_path: Path) -> None:
    dataset = cuau(tmp_path)
    doc = reference_energies(EMT_SPEC, dataset, str(tmp_path / "ref"), shift=False)
    expected = {}
    for el in ("Au", "Cu"):
        atom = Atoms(el, positions=[[0, 0, 0]])
        atom.calc = EMT()
        expected[el] = atom.get_potential_energy()
    assert doc.energy_source == "isolated_atom"
    assert doc.energies == pytest.approx(expected, abs=1e-9)
    assert 3.0 < doc.energies["Cu"] < 4.0  # EMT's zero is the crystal: a free atom is ~3.5 eV up
    assert doc.n_calls == 2 and doc.n_failed == 0
    again = reference_energies(EMT_SPEC, dataset, str(tmp_path / "ref"), shift=False)
    assert again.energies == doc.energies and again.n_calls == 0  # from the cache


def test_shifted_zero_keeps_atom_differences_and_equals_least_squares_for_one_element(
    tmp_path: Path,
) -> None:
    doc = reference_energies(EMT_SPEC, cuau(tmp_path), str(tmp_path / "ref"))
    assert doc.energy_source == "isolated_atom_shifted" and doc.shift < -3.0  # ~ -cohesion
    assert doc.energies["Au"] - doc.energies["Cu"] == pytest.approx(
        doc.atom_energies["Au"] - doc.atom_energies["Cu"], abs=1e-12
    )
    cu = [bulk("Cu", "fcc", a=a) * (2, 1, 1) for a in (3.5, 3.6, 3.7)]
    one = labelled_dataset(tmp_path / "cu", cu)
    shifted = reference_energies(EMT_SPEC, one, str(tmp_path / "ref_cu"))
    assert shifted.energies["Cu"] == pytest.approx(
        least_squares_references(read_dataset(one))["Cu"], abs=1e-12
    )


def test_a_failing_atom_falls_back_to_least_squares_and_says_so(tmp_path: Path) -> None:
    # Si cells labelled by Lennard-Jones; EMT has no Si, so its atom calculation fails.
    cells = [bulk("Si", "diamond", a=a) for a in (5.3, 5.43, 5.6)]
    labelled = [label_with(c, LennardJones(sigma=2.1, epsilon=0.5, rc=5.0), "lj") for c in cells]
    dataset = str(write_dataset(tmp_path / "train.xyz", labelled))
    doc = reference_energies(EMT_SPEC, dataset, str(tmp_path / "ref"))
    assert doc.energy_source == "least_squares" and doc.n_failed == 1
    assert "no isolated-atom energy for ['Si']" in doc.note and "NotImplementedError" in doc.note
    assert doc.energies == least_squares_references(read_dataset(dataset))
    assert not (tmp_path / "ref" / CACHE_FILE).exists()  # failures are never cached


@needs_pw
def test_pw_isolated_si_atom_is_spin_polarised_and_cached(tmp_path: Path) -> None:
    spec = OracleSpec(
        engine="qe",
        qe=QESettings(pseudopotentials={"Si": "Si.pbe-rrkj.UPF"}, ecutwfc=20.0, kspacing=0.5),
    )
    train = tmp_path / "train.xyz"
    write_dataset(train, [bulk("Si", "diamond", a=5.43)])  # only its elements are read
    cache = tmp_path / "cache"
    doc = reference_energies(spec, str(train), str(tmp_path / "ref"), cache_dir=str(cache),
                             shift=False)
    assert doc.energy_source == "isolated_atom" and doc.n_calls == 1
    output = next((tmp_path / "ref").rglob("espresso.pwo")).read_text()
    assert "total magnetization       =     2.00" in output  # the Si triplet
    assert "min_box=10A" in doc.source and "spin=True" in doc.source
    entries = json.loads((cache / CACHE_FILE).read_text())
    assert [e["element"] for e in entries.values()] == ["Si"]
    again = reference_energies(spec, str(train), str(tmp_path / "ref2"), cache_dir=str(cache),
                               shift=False)
    assert again.n_calls == 0 and again.energies == doc.energies
    assert not (tmp_path / "ref2" / "calculations").exists()  # nothing computed
