"""Cost of one pw.x label of a charged SN2 complex (I- ... CH3I), through the pipeline's oracle.

Usage: python benchmarks/qe_molecule_scf.py WORKDIR

The tutorial's reactant with Cl replaced by I (no Cl pseudopotential ships in
quantum-espresso-data), isolated (pbc=False: Γ, Martyna-Tuckerman, box from the molecule's
size), total charge -1, pseudopotentials and cutoffs from the pipeline's heuristics.
Prints the settings, the wall time and the energy (docs/molecules.md).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ase.io import read

from pyacemaker.dft.healing import qe_oracle
from pyacemaker.dft.qe import QESettings
from pyacemaker.molecules.sampling import boxed

TUTORIAL = Path(__file__).resolve().parents[1] / "workflows" / "tutorial_sn2"
PSEUDOS = {"C": "C.pbe-rrkjus.UPF", "H": "H.pbe-kjpaw.UPF", "I": "I.pbe-n-kjpaw_psl.1.0.0.UPF"}


def main(workdir: Path) -> None:
    """Label the complex once and print what it cost."""
    atoms = read(TUTORIAL / "reactant.xyz")
    atoms.symbols[5] = "I"
    atoms.positions[5, 2] -= 0.5  # I- a little further out than Cl-
    settings = QESettings(pseudopotentials=PSEUDOS, extra_input={"tot_charge": -1})
    start = time.perf_counter()
    result = qe_oracle(settings.with_elements(["C", "H", "I"])).label([boxed(atoms)], workdir)
    print(f"wall {time.perf_counter() - start:.0f} s, failed {[f.error for f in result.failed]}")
    for labelled in result.labelled:
        print(labelled.info["REF_energy"], labelled.info["label_source"])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
