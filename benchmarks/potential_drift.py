"""Compare the potentials of one run on that run's own DFT cells (EOS and held-out).

Used to see what an exploration update did to the equation of state, e.g.:

    python benchmarks/potential_drift.py runs/si-quickstart \
        runs/si-quickstart/08_ace_delta runs/si-quickstart/potential

prints a markdown table (a0, B0, energy/force RMSE on the EOS and held-out pw.x cells)
for each potential folder; docs/quickstart.md quotes it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from pyace import PyACECalculator

from pyacemaker.data import read_dataset
from pyacemaker.validation.eos import eos_from_calculator, eos_from_labels
from pyacemaker.validation.metrics import errors_against


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished run folder (plan.yaml, 03_dft_*)")
    parser.add_argument("potentials", type=Path, nargs="+", help="folders with potential.yace")
    args = parser.parse_args()
    plan = yaml.safe_load((args.run / "plan.yaml").read_text())
    eos_cells = read_dataset(args.run / "03_dft_eos" / "labelled.xyz")
    test_cells = read_dataset(args.run / "03_dft_test" / "labelled.xyz")
    a_ref, v_ref = plan["a_ref"], plan["v_ref"]
    dft = eos_from_labels(eos_cells, a_ref, v_ref)
    print("| potential | a0 (Å) | B0 (GPa) | EOS cells E / F RMSE | held-out E / F RMSE |")
    print("|---|---|---|---|---|")
    for folder in args.potentials:
        calc = PyACECalculator(str(folder / "potential.yace"))  # the .yace carries E0
        eos = eos_from_calculator(eos_cells, calc, a_ref, v_ref)
        on_eos, on_test = errors_against(eos_cells, calc), errors_against(test_cells, calc)
        print(
            f"| {folder} | {eos.a0:.4f} | {eos.b0_gpa:.1f} | "
            f"{on_eos.energy_rmse_mev:.2f} / {on_eos.force_rmse:.3f} | "
            f"{on_test.energy_rmse_mev:.2f} / {on_test.force_rmse:.3f} |"
        )
    print(f"| DFT (pw.x) | {dft.a0:.4f} | {dft.b0_gpa:.1f} | — | — |")


if __name__ == "__main__":
    main()
