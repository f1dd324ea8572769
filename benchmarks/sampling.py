"""Random vs smart selection at equal labelling budgets, EMT copper as ground truth.

Usage: python benchmarks/sampling.py [OUT_DIR] [BUDGET ...]   (default budgets 8 16 32)
       python benchmarks/sampling.py --table OUT_DIR   (reprint the table of a finished run)

One candidate pool (the pipeline's generator mix for a metal: strain, thermal rattle,
vacancies, interstitials; 8-atom supercells) is drawn once. For every budget n, n
structures are picked from it at random (3 seeds), by DIRECT and by farthest-point
sampling (both on the radial descriptor the pipeline uses when no foundation model is
configured); the picks are labelled with EMT and a small ACE is fitted to each. Two
held-out sets measure the result: the same generator mix with another seed, and EMT
Langevin MD snapshots of a 32-atom cell (300 K and 900 K), which no method saw.
Prints a markdown table (random: median over seeds, with min–max, because a single
unlucky draw can be off by orders of magnitude) and writes ``results.json`` into OUT_DIR.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

from pyacemaker.ace.pacemaker import ace_calculator, fit_ace
from pyacemaker.ace.schemas import AceFitSettings
from pyacemaker.dft.reference import least_squares_references
from pyacemaker.dynamics.ase_md import sample_md
from pyacemaker.oracle import ase_calculator_oracle
from pyacemaker.selection.descriptors import structure_descriptors
from pyacemaker.selection.jobs import select
from pyacemaker.structures.policy import MixSettings, generate_mix, generator_mix
from pyacemaker.validation.metrics import errors_against

SEED = 11
POOL = 240
RANDOM_SEEDS = (0, 1, 2)
SETTINGS = AceFitSettings(cutoff=5.0, number_of_functions_per_element=30, max_iter=150, seed=SEED)
MIX = MixSettings(
    max_strain=0.04, rattle=0.03, temperatures=(150.0, 350.0, 550.0), supercell_atoms=8
)


def label(structures: list[Atoms], workdir: Path) -> list[Atoms]:
    """EMT labels (the ground truth of this benchmark)."""
    result = ase_calculator_oracle("ase.calculators.emt.EMT").label(structures, workdir)
    assert not result.failed
    return result.labelled


def md_test_set() -> list[Atoms]:
    """EMT Langevin snapshots of a 32-atom cell at 300 K and 900 K, 10 each."""
    cell = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2)
    frames: list[Atoms] = []
    for k, temp in enumerate((300.0, 900.0)):
        frames += sample_md(cell, EMT(), temperature_K=temp, steps=500, interval=50, seed=k)
    return frames


def fit_and_score(
    train: list[Atoms], tests: dict[str, list[Atoms]], workdir: Path
) -> dict[str, float]:
    """Fit ACE on ``train``; held-out energy (meV/atom) and force (eV/Å) RMSE per test set."""
    doc = fit_ace(train, workdir, SETTINGS, reference_energy=least_squares_references(train))
    calc = ace_calculator(doc)
    scores = {}
    for name, structures in tests.items():
        err = errors_against(structures, calc)
        scores[f"{name}_energy_mev"] = err.energy_rmse_mev
        scores[f"{name}_force"] = err.force_rmse
    return scores


def main() -> int:
    if sys.argv[1:2] == ["--table"]:
        results = json.loads((Path(sys.argv[2]) / "results.json").read_text())
        print(table(results, sorted({int(r["budget"]) for r in results})))
        return 0
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bench_sampling").resolve()
    budgets = [int(b) for b in sys.argv[2:]] or [8, 16, 32]
    proto = bulk("Cu", "fcc", a=3.61)
    shares = generator_mix("metal", MIX.supercell_atoms).shares
    pool = label(generate_mix(proto, shares, POOL, MIX, SEED), out / "pool")
    tests = {
        "mix": label(generate_mix(proto, shares, 60, MIX, SEED + 1), out / "test_mix"),
        "md": label(md_test_set(), out / "test_md"),
    }
    features, _ = structure_descriptors(pool, None, SETTINGS.cutoff)
    results: list[dict[str, object]] = []
    for n in budgets:
        runs = [("direct", SEED), ("fps", SEED)] + [("random", s) for s in RANDOM_SEEDS]
        for method, seed in runs:
            start = time.perf_counter()
            picked = select(features, n, method, seed).indices  # type: ignore[arg-type]
            train = [pool[i] for i in picked]
            scores = fit_and_score(train, tests, out / f"fit_{method}_{seed}_n{n}")
            row = {"budget": n, "method": method, "seed": seed, **scores}
            row["fit_s"] = time.perf_counter() - start
            print(json.dumps(row), flush=True)
            results.append(row)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(table(results, budgets))
    return 0


def table(results: list[dict[str, object]], budgets: list[int]) -> str:
    """Markdown table: one row per budget and method (random: median, min–max over seeds)."""
    keys = ("mix_force", "mix_energy_mev", "md_force", "md_energy_mev")
    lines = [
        "| budget | selection | force RMSE, mix (eV/Å) | energy RMSE, mix (meV/atom) "
        "| force RMSE, MD (eV/Å) | energy RMSE, MD (meV/atom) |",
        "|---|---|---|---|---|---|",
    ]
    for n in budgets:
        for method in ("random", "direct", "fps"):
            rows = [r for r in results if r["budget"] == n and r["method"] == method]
            cells = []
            for key in keys:
                values = np.array([float(r[key]) for r in rows])  # type: ignore[arg-type]
                digits = 3 if "force" in key else 1
                text = f"{np.median(values):.{digits}f}"
                if len(values) > 1:
                    text += f" ({values.min():.{digits}f}–{values.max():.{digits}f})"
                cells.append(text)
            lines.append(f"| {n} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
