"""Cost of one pw.x label of the SN2 complex I- ... CH3I, through the reaction chain's oracle.

Usage: python benchmarks/qe_molecule_scf.py WORKDIR [CONFIG]

CONFIG (default ``workflows/tutorial_sn2/config_pwx.yaml``) is read as ``pyacemaker run``
reads it; the reactant is labelled once by the oracle the chain's label stage builds
from it (:meth:`pyacemaker.flows.reaction.ReactionMaker.from_config`): pseudopotentials
and cutoffs from the pipeline's table, ``tot_charge`` and spin from ``reaction:``, Γ only,
``assume_isolated='mt'``, the box from the molecule's size and ``dft.min_box``, in the
sampling stage's container box (:func:`pyacemaker.molecules.sampling.boxed`). Prints the
box, the wall time, pw.x's CPU time and SCF iterations, and the energy (docs/molecules.md).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from pyacemaker.config.reaction import load_reaction_config, read_molecule
from pyacemaker.dft.qe import OUTPUT_FILE, prepare_input
from pyacemaker.flows.reaction import ReactionMaker
from pyacemaker.molecules.sampling import boxed
from pyacemaker.oracle import calc_folder

CONFIG = Path(__file__).resolve().parents[1] / "workflows" / "tutorial_sn2" / "config_pwx.yaml"


def main(workdir: Path, config: Path = CONFIG) -> None:
    """Label the reactant once and print what it cost."""
    cfg = load_reaction_config(config)
    spec = ReactionMaker.from_config(cfg).label.oracle
    atoms = boxed(read_molecule(cfg.reaction.reactant))
    assert spec.qe is not None, "the config's oracle is not pw.x"
    work, _ = prepare_input(atoms, spec.qe.resolved())
    print("box (Å):", " x ".join(f"{x:.2f}" for x in work.cell.lengths()))
    start = time.perf_counter()
    result = spec.build().label([atoms], workdir)
    print(f"wall {time.perf_counter() - start:.0f} s, failed {[f.error for f in result.failed]}")
    output = (calc_folder(workdir, 0) / OUTPUT_FILE).read_text()
    for pattern in (r"PWSCF\s+:.*WALL", r"convergence has been achieved in\s+\d+ iterations"):
        print(*re.findall(pattern, output))
    for labelled in result.labelled:
        print(labelled.info["REF_energy"], labelled.info["label_source"])


if __name__ == "__main__":
    main(Path(sys.argv[1]), *(Path(a) for a in sys.argv[2:3]))
