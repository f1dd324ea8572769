"""Spread of the SN2 end-to-end test's barrier and reaction-energy errors over seeds.

Usage: python benchmarks/sn2_seeds.py OUT_DIR [SEED ...]   (default seeds 1 2 3 4 5)

Runs the molecular pipeline with the budget of ``tests/test_reaction.py`` (``SMALL_RUN``:
Cl- + CH3I, GFN2-xTB oracle) once per seed and prints, per seed, the potential's CI-NEB
barrier and reaction energy against the oracle's, the other checks, the oracle calls and
the wall time; writes ``results.json`` into OUT_DIR.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyacemaker.runner import run_reaction
from tests.test_reaction import SMALL_RUN, sn2_config


def main(out: Path, seeds: list[int]) -> None:
    """One run per seed; a table row each."""
    rows = []
    print("| seed | barrier oracle / ACE (eV) | ΔE oracle / ACE (eV) | barrier err | ΔE err "
          "| freq RMSE R/P (cm⁻¹) | held-out E/F | oracle calls | wall (s) |")
    for seed in seeds:
        folder = out / f"seed{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        s = run_reaction(sn2_config(folder, seed, **SMALL_RUN), folder / "store")
        v = s.validation
        row = {
            "seed": seed, "barrier": s.barrier, "reaction_energy": s.reaction_energy,
            "barrier_error": v.barrier_error, "reaction_energy_error": v.reaction_energy_error,
            "frequency_rmse": [f.rmse_cm1 for f in v.frequencies],
            "held_out": [v.parity["held-out"].energy_rmse_mev, v.parity["held-out"].force_rmse],
            "gamma_max": v.md.gamma_max if v.md else None,
            "oracle_calls": s.oracle_calls, "wall_s": time.perf_counter() - start,
            "failed_checks": [c.name for c in v.checks if not c.passed],
        }  # fmt: skip
        rows.append(row)
        print(f"| {seed} | {s.barrier['oracle']:.4f} / {s.barrier['ace']:.4f} "
              f"| {s.reaction_energy['oracle']:.4f} / {s.reaction_energy['ace']:.4f} "
              f"| {v.barrier_error:+.4f} | {v.reaction_energy_error:+.4f} "
              f"| {row['frequency_rmse'][0]:.0f} / {row['frequency_rmse'][1]:.0f} "
              f"| {row['held_out'][0]:.1f} / {row['held_out'][1]:.3f} "
              f"| {s.oracle_calls} | {row['wall_s']:.0f} |", flush=True)  # fmt: skip
        (out / "results.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), [int(a) for a in sys.argv[2:]] or [1, 2, 3, 4, 5])
