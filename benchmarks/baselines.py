"""Honest baselines for a finished run: the delivered potential against the simple routes.

    python benchmarks/baselines.py --run runs/si-quickstart
        # one finished run (any oracle; the random draw is labelled with the run's oracle)
    python benchmarks/baselines.py --element Ni --a 3.52 --seeds 1 2 3 --explore \
        --out /tmp/baselines
        # the tests' miniature EMT pipeline (tests/conftest.py MINI_EMT) per seed, then
        # the baselines of each run

Every number is a held-out RMSE against the run's own held-out DFT cells
(``03_dft_test``), the same cells the run's validation reports:

- ``delivered``: what the run delivered (its ``potential/``), as validation scored it;
- ``teacher route`` / ``direct`` / ``teacher-only``: the run's own candidates (metrics.json);
- ``direct, all DFT``: ACE fitted directly on *every* DFT label that entered the run's
  training (selected cells plus exploration cut-outs) with the run's base-fit settings:
  the run's own refit (``09c_ace_refit``, a delivery candidate since it exists), or,
  for a run made before, fitted here on the labels of its exploration history;
- ``random``: the same number of DFT calls spent on randomly drawn candidates of the
  run's own candidate pool (``01_generate/candidates.xyz``), screened by geometry like
  the selector's candidates, drawn so that the atom count is as close as possible to the
  run's DFT training atoms, labelled with the run's oracle and fitted like
  ``direct, all DFT``.

So ``random`` and ``direct, all DFT`` cost the same DFT as the run (no teacher, no pool,
no exploration MD); a stage that costs time or DFT must beat them to earn its place.
docs/benchmarks.md quotes the tables.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import yaml
from ase import Atoms

ROOT = Path(__file__).resolve().parents[1]
DRAWS = 200  # random subsets tried to match the atom count; the closest is kept


def training_dft(run: Path) -> list[Atoms]:
    """Every DFT-labelled structure that entered the run's training, at weight 1.

    Exploration keeps its data in ``09b_explore/history.xyz`` (DFT training cells, the
    teacher's pool and the oracle-labelled cut-outs, whose energy weight is 0 and whose
    buffer atoms have force weight 0): the oracle-labelled part of it is the run's DFT.
    """
    from pyacemaker.data import read_dataset

    gathered = run / "09c_ace_refit" / "labels" / "labelled.xyz"  # the run's own refit data
    if gathered.exists():
        return _unit_weights(read_dataset(gathered))
    history = run / "09b_explore" / "history.xyz"
    train = read_dataset(run / "03_dft_train" / "labelled.xyz")
    source = train[0].info["label_source"]
    dft = (
        [a for a in read_dataset(history) if a.info.get("label_source") == source]
        if history.exists()
        else train
    )
    return _unit_weights(dft)


def _unit_weights(dft: list[Atoms]) -> list[Atoms]:
    for atoms in dft:
        atoms.info["weight"] = 1.0  # the run's relative DFT weights belong to its delta fit
    return dft


def random_draw(candidates: list[Atoms], n: int, atoms: int, seed: int) -> list[Atoms]:
    """``n`` random candidates whose atom count is closest to ``atoms`` over DRAWS draws."""
    rng = np.random.default_rng(seed)
    sizes = np.array([len(a) for a in candidates])
    draws = [rng.choice(len(candidates), size=min(n, len(candidates)), replace=False)
             for _ in range(DRAWS)]  # fmt: skip
    best = min(draws, key=lambda d: abs(int(sizes[d].sum()) - atoms))
    return [candidates[i] for i in best]


def fit_and_score(run: Path, name: str, structures: list[Atoms], work: Path) -> dict[str, float]:
    """ACE fitted on ``structures`` with the run's base settings; its held-out errors."""
    from pyacemaker.ace.pacemaker import ace_calculator, fit_ace
    from pyacemaker.config.plan import Plan
    from pyacemaker.data import read_dataset, write_dataset
    from pyacemaker.dft.reference import reference_energies
    from pyacemaker.validation.metrics import errors_against

    plan = Plan.model_validate(yaml.safe_load((run / "plan.yaml").read_text()))
    folder = work / name
    data = write_dataset(folder / "train.xyz", structures)
    ref = reference_energies(
        plan.oracle, str(data), str(folder / "reference"), cache_dir=str(run / "03_reference")
    )
    doc = fit_ace(structures, folder / "ace", plan.ace.base, reference_energy=ref.energies,
                  reference_source=ref.energy_source)  # fmt: skip
    held_out = read_dataset(run / "03_dft_test" / "labelled.xyz")
    err = errors_against(held_out, ace_calculator(doc))
    return {"energy_rmse_mev": err.energy_rmse_mev, "force_rmse": err.force_rmse,
            "n": len(structures), "atoms": sum(len(a) for a in structures)}  # fmt: skip


def label(run: Path, structures: list[Atoms], work: Path) -> list[Atoms]:
    """The random draw labelled with the run's own oracle (checkpointed in ``work``)."""
    from pyacemaker.config.plan import Plan
    from pyacemaker.data import read_dataset, write_dataset
    from pyacemaker.oracle import label_dataset

    plan = Plan.model_validate(yaml.safe_load((run / "plan.yaml").read_text()))
    todo = write_dataset(work / "random_todo.xyz", structures)
    doc = label_dataset(plan.oracle.build(), str(todo), str(work / "random_dft"), "random")
    return read_dataset(doc.dataset)


def baselines(run: Path, seed: int) -> dict[str, object]:
    """All rows of one run: its own candidates, and the two equal-budget baselines."""
    from pyacemaker.config.plan import Plan
    from pyacemaker.data import read_dataset
    from pyacemaker.selection.screen import screen

    work = run.parent / (run.name + "_baselines")
    metrics = json.loads((run / "metrics.json").read_text())
    validation = metrics["validation"]
    dft = training_dft(run)
    n_atoms = sum(len(a) for a in dft)
    plan = Plan.model_validate(yaml.safe_load((run / "plan.yaml").read_text()))
    pool = read_dataset(run / "01_generate" / "candidates.xyz")
    kept = screen(pool, plan.sampling.min_distance_factor).kept  # the selector's geometry screen
    candidates = [pool[i] for i in kept]
    drawn = random_draw(candidates, len(dft), n_atoms, seed)
    errors = validation["test_errors"]
    rows: dict[str, object] = {
        key: errors[key] for key in ("final_ace", "direct_ace", "teacher_only_ace") if key in errors
    }
    rows["delivered"] = validation["delivery"]["delivered"]
    rows["delivered_errors"] = errors[validation["delivery"]["delivered"]]
    rows["direct_all_dft"] = (  # the run's own refit on every DFT label, when it made one
        errors["refit_ace"] if "refit_ace" in errors else fit_and_score(run, "all_dft", dft, work)
    )
    rows["random"] = fit_and_score(run, "random", label(run, drawn, work), work)
    rows["dft_training"] = {"n": len(dft), "atoms": n_atoms}
    (work / "baselines.json").write_text(json.dumps(rows, indent=1))
    return rows


def _cell(errors: object) -> str:
    assert isinstance(errors, dict)
    return f"{errors['energy_rmse_mev']:.2f} / {errors['force_rmse']:.4f}"


def mini_run(element: str, a: float, seed: int, explore: bool, out: Path) -> Path:
    """The miniature EMT pipeline for one seed (resumed if its folder exists)."""
    sys.path.insert(0, str(ROOT))
    from pyacemaker.runner import run
    from tests.conftest import MINI_EMT

    folder = out / f"{element.lower()}-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        **MINI_EMT, "name": f"{element.lower()}-emt-mini", "seed": seed,
        "structure": {"formula": element, "crystal": "fcc", "a": a},
        "output_dir": str(folder / "out"),
    }  # fmt: skip
    if explore:
        config["active_learning"] = {
            "enabled": True, "steps": 300, "max_iterations": 2, "max_dft_per_iteration": 2,
            "supercell_atoms": 32, "update_max_iter": 30,
        }  # fmt: skip
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    run(folder / "config.yaml", store_path=folder / "store")  # a FAIL verdict still returns
    return folder / "out"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a finished run folder (with plan.yaml)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random draw (--run)")
    parser.add_argument("--element", default="Ni")
    parser.add_argument("--a", type=float, default=3.52, help="lattice parameter (Å)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--explore", action="store_true", help="with exploration")
    parser.add_argument("--out", type=Path, default=Path("runs/baselines"))
    args = parser.parse_args()
    runs = [(args.run, args.seed)] if args.run else []
    for seed in [] if args.run else args.seeds:
        try:
            runs.append((mini_run(args.element, args.a, seed, args.explore, args.out), seed))
        except RuntimeError as exc:  # a failed run is a row of the table, not the end of it
            print(f"seed {seed}: {str(exc).splitlines()[0]}", file=sys.stderr)
    print(
        "| run | DFT cells (atoms) | teacher route | direct | teacher-only | delivered "
        "| direct, all DFT | random, same budget |"
    )
    print("|---" * 8 + "|")
    for run, seed in runs:
        r = baselines(run, seed)
        own = [
            _cell(r[k]) if k in r else "–" for k in ("final_ace", "direct_ace", "teacher_only_ace")
        ]
        budget = r["dft_training"]
        assert isinstance(budget, dict)
        print(
            f"| {run.parent.name} | {budget['n']} ({budget['atoms']}) | "
            + " | ".join(own)
            + f" | {r['delivered']}: {_cell(r['delivered_errors'])} | {_cell(r['direct_all_dft'])}"
            + f" | {_cell(r['random'])} |"
        )


if __name__ == "__main__":
    main()
