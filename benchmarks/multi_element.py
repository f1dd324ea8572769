"""Multi-element ACE defaults and the isolated-atom energy zero, measured on EMT.

Usage: python benchmarks/multi_element.py OUT_DIR zero|basis [SEED ...]   (default seeds 1 2 3)

``zero``: EMT Cu (one element), the same data and basis fitted with the isolated-atom
zero and with the least-squares zero; held-out RMSEs per seed. ``basis``: a unary (Cu),
binary (Cu-Au) and ternary (Cu-Au-Ag) fit with the pipeline's default block shapes
(:meth:`AceFitSettings.function_blocks`), with their fit time, function count, held-out
RMSEs, and for the binary the mixing energy of ordered fcc cells against EMT.
Prints a markdown table and writes ``results.json`` into OUT_DIR.
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
from ase.data import atomic_numbers, reference_states

from pyacemaker.ace.pacemaker import ace_calculator, fit_ace, weighted_errors
from pyacemaker.ace.schemas import AceFitSettings
from pyacemaker.dft.reference import isolated_atom, least_squares_references
from pyacemaker.oracle import label_with

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.test_ace_multi import fcc_cells  # the tests' random fcc decorations

SETTINGS = AceFitSettings(number_of_functions_per_element=30, max_iter=150)


def fcc_a(elements: list[str], symbols: list[str]) -> float:
    """Vegard lattice parameter of an fcc decoration (ASE's elemental reference states)."""
    a = {el: float(reference_states[atomic_numbers[el]]["a"]) for el in elements}
    return float(np.mean([a[s] for s in symbols]))


def emt_atom_energies(elements: list[str]) -> dict[str, float]:
    """EMT's free-atom energies (what IsolatedAtomMaker computes for this oracle)."""
    return {el: label_with(isolated_atom(el), EMT(), "ase:EMT").info["REF_energy"]
            for el in elements}


def fit(train: list[Atoms], test: list[Atoms], ref: dict[str, float], workdir: Path,
        settings: AceFitSettings) -> dict[str, float]:
    """Fit and return time, size, training and held-out RMSEs."""
    start = time.perf_counter()
    doc = fit_ace(train, workdir, settings, reference_energy=ref)
    elapsed = time.perf_counter() - start
    e_test, f_test = weighted_errors(doc, test)
    n_funcs = settings.functions_per_element(len(doc.elements)) * len(doc.elements)
    return {"fit_s": elapsed, "functions": n_funcs, "train_e_mev": doc.rmse_energy_mev_per_atom,
            "train_f": doc.rmse_forces_ev_per_a, "test_e_mev": e_test, "test_f": f_test,
            "yace": str(doc.yace_path), "_doc": doc.model_dump_json()}


def zero_study(out: Path, seeds: list[int]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for seed in seeds:
        train, test = fcc_cells(["Cu"], 30, seed), fcc_cells(["Cu"], 20, 1000 + seed)
        zeros = {"isolated_atom": emt_atom_energies(["Cu"]),
                 "least_squares": least_squares_references(train)}
        for name, ref in zeros.items():
            s = SETTINGS.model_copy(update={"seed": seed})
            r = fit(train, test, ref, out / f"zero_{name}_{seed}", s)
            rows.append({"study": "zero", "zero": name, "seed": seed, **r})
            print(name, seed, {k: v for k, v in r.items() if not k.startswith("_")}, flush=True)
    return rows


def mixing_energies(yace_doc: str, elements: list[str]) -> list[tuple[str, float, float]]:
    """Mixing energy (meV/atom) of ordered fcc cells, EMT vs the potential, unrelaxed."""
    from pyacemaker.ace.schemas import AcePotentialDoc

    doc = AcePotentialDoc.model_validate_json(yace_doc)
    a, b = elements
    pure = {el: bulk(el, "fcc", a=fcc_a(elements, [el]), cubic=True) for el in elements}
    out = []
    for name, symbols in {"L1_2 A3B": [a, a, a, b], "L1_0 AB": [a, a, b, b],
                          "L1_2 AB3": [a, b, b, b]}.items():
        cell = bulk(a, "fcc", a=fcc_a(elements, symbols), cubic=True)
        cell.set_chemical_symbols(symbols)
        values = []
        for calc in (EMT(), ace_calculator(doc)):
            per = {}
            for el, p in pure.items():
                p.calc = calc
                per[el] = p.get_potential_energy() / len(p)
            cell.calc = calc
            e = cell.get_potential_energy() / len(cell)
            values.append(1000 * (e - np.mean([per[s] for s in symbols])))
        out.append((name, values[0], values[1]))
    return out


def basis_study(out: Path, seeds: list[int]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for elements in (["Cu"], ["Au", "Cu"], ["Ag", "Au", "Cu"]):
        for seed in seeds:
            n_train = 30 * len(elements)
            train = fcc_cells(elements, n_train, seed)
            test = fcc_cells(elements, 20, 1000 + seed)
            ref = emt_atom_energies(elements)
            s = SETTINGS.model_copy(update={"seed": seed})
            r = fit(train, test, ref, out / f"basis_{''.join(elements)}_{seed}", s)
            row: dict[str, object] = {"study": "basis", "elements": elements, "seed": seed,
                                      "n_train": n_train, **r}
            if len(elements) == 2:
                row["mixing_mev"] = mixing_energies(str(r["_doc"]), elements)
            rows.append(row)
            print(elements, seed, {k: v for k, v in row.items() if not k.startswith("_")},
                  flush=True)
    return rows


def main(argv: list[str]) -> None:
    out, study = Path(argv[0]), argv[1]
    seeds = [int(s) for s in argv[2:]] or [1, 2, 3]
    out.mkdir(parents=True, exist_ok=True)
    rows = zero_study(out, seeds) if study == "zero" else basis_study(out, seeds)
    clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    (out / f"results_{study}.json").write_text(json.dumps(clean, indent=1))
    keys = ["zero" if study == "zero" else "elements", "seed", "functions", "fit_s",
            "train_e_mev", "test_e_mev", "test_f"]
    print("| " + " | ".join(keys) + " |")
    for r in clean:
        print("| " + " | ".join(f"{r[k]:.3g}" if isinstance(r[k], float) else str(r[k])
                                for k in keys) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
