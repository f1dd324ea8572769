"""pw.x as the oracle of a reaction run: charge and spin in every input, isolated, Γ only.

Labels OH- (once plainly, once healed) and neutral OH (pw.x SCFs at 25/200 Ry in a 5 Å
box, a few seconds of CPU each)
through the very oracle the molecular chain builds from a reaction config with
``oracle.engine: qe`` (:meth:`pyacemaker.flows.reaction.ReactionMaker.from_config`). A
whole pw.x reaction run is hundreds of SCFs (docs/molecules.md) and is not run here.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from ase import Atoms

from pyacemaker.config.reaction import load_reaction_config, read_molecule
from pyacemaker.data import ENERGY_KEY, FORCES_KEY
from pyacemaker.dft.oracle import OracleSpec
from pyacemaker.dft.qe import INPUT_FILE, read_namelists
from pyacemaker.flows.reaction import ReactionMaker
from pyacemaker.oracle import calc_folder

PSEUDO_DIR = Path("/usr/share/espresso/pseudo")
needs_pw = pytest.mark.skipif(
    shutil.which("pw.x") is None or not (PSEUDO_DIR / "O.pbe-kjpaw.UPF").is_file(),
    reason="apt-get install quantum-espresso quantum-espresso-data",
)
BOX = 5.0  # Å: small and cheap (3 s of CPU per SCF); labels for a fit need the 10 Å default


def _hydroxide(tmp_path: Path, charge: int, multiplicity: int) -> Path:
    """A reaction config of O-H (0.97 Å) stretching to 1.05 Å, labelled with pw.x."""
    for name, bond in (("oh.xyz", 0.97), ("oh_long.xyz", 1.05)):
        Atoms("OH", positions=[[0, 0, 0], [0, 0, bond]]).write(tmp_path / name)
    data = {
        "output_dir": str(tmp_path / "run"),
        "reaction": {"reactant": "oh.xyz", "product": "oh_long.xyz", "charge": charge,
                     "multiplicity": multiplicity},
        "oracle": {"engine": "qe"},
        "dft": {"ecutwfc": 25, "ecutrho": 200, "min_box": BOX},
    }  # fmt: skip
    path = tmp_path / f"oh_{charge}_{multiplicity}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _chain_oracle(config: Path) -> tuple[OracleSpec, Atoms]:
    """The oracle the chain's label stage builds from ``config``, and the reactant."""
    cfg = load_reaction_config(config)
    maker = ReactionMaker.from_config(cfg)
    assert maker.sample.oracle == maker.label.oracle  # sampling and labels: one oracle
    assert maker.reference.oracle.qe is not None
    assert "tot_charge" not in maker.reference.oracle.qe.extra_input  # free atoms: neutral
    return maker.label.oracle, read_molecule(cfg.reaction.reactant)


def _label(
    spec: OracleSpec, atoms: Atoms, workdir: Path
) -> tuple[Atoms, dict[str, dict[str, Any]], str]:
    """``atoms`` labelled by ``spec``'s oracle; the label and the pw.x input it ran."""
    result = spec.build().label([atoms], workdir)
    assert not result.failed, result.failed
    folder = calc_folder(workdir, 0)
    return result.labelled[0], read_namelists(folder), (folder / INPUT_FILE).read_text()


@needs_pw
def test_pw_labels_a_charged_and_an_open_shell_molecule(tmp_path: Path) -> None:
    """tot_charge, nspin/tot_magnetization, Γ and 'mt' reach pw.x; the anion lies lower."""
    spec, hydroxide = _chain_oracle(_hydroxide(tmp_path, -1, 1))
    anion, inputs, text = _label(spec, hydroxide, tmp_path / "anion")
    system = inputs["system"]
    assert system["tot_charge"] == -1 and system["assume_isolated"] == "mt"
    assert "nspin" not in system  # closed shell: spin-restricted
    assert "K_POINTS gamma" in text
    assert anion.info["heal_corrections"] == 0  # labelled through the self-healing loop
    forces = anion.arrays[FORCES_KEY]
    assert np.isfinite(anion.info[ENERGY_KEY]) and np.all(np.isfinite(forces))
    assert np.abs(forces[:, 2]).min() > 0.1  # measured 0.48 eV/Å: 0.97 Å is not the minimum
    assert np.abs(forces.sum(axis=0)).max() < 0.02  # pw.x removes the net force (measured 0)

    # a failed SCF is healed as for crystals (more steps), the charge kept in the rerun
    assert spec.qe is not None
    short = spec.model_copy(update={"qe": spec.qe.model_copy(update={"electron_maxstep": 4})})
    healed, inputs, _ = _label(short, hydroxide, tmp_path / "healed")
    assert healed.info["heal_corrections"] == 1 and inputs["system"]["tot_charge"] == -1
    assert abs(healed.info[ENERGY_KEY] - anion.info[ENERGY_KEY]) < 1e-4

    spec, hydroxide = _chain_oracle(_hydroxide(tmp_path, 0, 2))
    radical, inputs, _ = _label(spec, hydroxide, tmp_path / "radical")
    system = inputs["system"]
    assert system["tot_charge"] == 0 and system["nspin"] == 2
    assert system["tot_magnetization"] == 1 and system["assume_isolated"] == "mt"
    # OH binds an electron (experiment 1.83 eV). Measured E(OH) - E(OH-) at 25/200 Ry: 1.51 eV
    # in this 5 Å box, 1.86 eV in a 6 Å one; the bound is a third of the smaller value. (PBE
    # leaves OH-'s top level above the vacuum, so the number depends on the box, fixed here.)
    assert radical.info[ENERGY_KEY] - anion.info[ENERGY_KEY] > 0.5
