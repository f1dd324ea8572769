"""Refit the delta correction of a finished run with another DFT weight; print held-out errors.

Usage: python benchmarks/delta_weight.py RUN_DIR WEIGHT [MAX_ITER]
Reads the run's base ACE, DFT training set, teacher pool and held-out DFT set from RUN_DIR
(e.g. runs/si-quickstart) and the embedded store, continues the base fit exactly as the
pipeline's ace_delta stage does, and prints held-out RMSEs of base and refitted potentials.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pyacemaker.ace.jobs import weighted
from pyacemaker.ace.pacemaker import ace_calculator, fit_ace
from pyacemaker.ace.schemas import AcePotentialDoc
from pyacemaker.data import read_dataset
from pyacemaker.store import job_store
from pyacemaker.validation.metrics import errors_against


def main() -> int:
    run, weight = Path(sys.argv[1]).resolve(), float(sys.argv[2])
    max_iter = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    store = job_store()
    store.connect()
    found = store.query_one(
        {"name": "ace_base", "output.workdir": str(run / "07_ace_base")},
        properties=["output"],
        sort={"completed_at": -1},
    )
    base = AcePotentialDoc.model_validate(found["output"])
    data = weighted(
        [str(run / "03_dft_train/labelled.xyz"), str(run / "06_pool/labelled.xyz")], [weight, 1.0]
    )
    settings = base.settings.model_copy(update={"max_iter": max_iter})
    doc = fit_ace(
        data,
        run / f"delta_w{weight:g}",
        settings,
        reference_energy=base.reference_energy,
        initial_potential=base.yaml_path,
    )
    test = read_dataset(run / "03_dft_test/labelled.xyz")
    for name, calc in (
        ("base", ace_calculator(base)),
        (f"delta w={weight:g}", ace_calculator(doc)),
    ):
        err = errors_against(test, calc)
        print(f"{name:12s} {err.energy_rmse_mev:6.2f} meV/atom {err.force_rmse:.4f} eV/Å")
    return 0


if __name__ == "__main__":
    sys.exit(main())
