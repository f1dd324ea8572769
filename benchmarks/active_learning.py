"""γ and error history of a real active-learning run, as the table in docs/active_learning.md.

Usage:
    python benchmarks/active_learning.py [--temperatures 300 800 1200]
        # EMT copper: the miniature pipeline of tests/conftest.py with exploration on
    python benchmarks/active_learning.py --from-run runs/si-quickstart \\
        --config workflows/quickstart/si.yaml
        # only the exploration stage (pw.x) on a finished run's potential and data

Prints the wall time and a markdown table, one row per iteration.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml
from jobflow import JobStore, run_locally
from maggma.stores import MemoryStore

from pyacemaker.ace.pacemaker import potential_reference_energy
from pyacemaker.ace.schemas import AcePotentialDoc
from pyacemaker.config.errors import load_config
from pyacemaker.config.plan import Plan, expand
from pyacemaker.flows.active_learning import ActiveLearningMaker
from pyacemaker.flows.active_learning_schemas import ActiveLearningDoc, ErrorPair

ROOT = Path(__file__).resolve().parents[1]


def _f(e: ErrorPair | None) -> str:
    return "–" if e is None else f"{e.force_rmse:.3f}"


def table(doc: ActiveLearningDoc) -> str:
    """One markdown row per iteration: MD, γ, selection, DFT, errors, decision."""
    head = (
        "| it | T (K) | MD steps | halted | γ max / p95 | frames / selected | DFT | "
        "new-label F before → after | held-out E, F | previous-test F before → after | "
        "accepted | wall (s) |\n|" + "---|" * 12
    )
    rows = [
        f"| {r.iteration} | {r.temperature:g} | {r.start_step}→{r.end_step} | "
        f"{'yes' if r.halted else 'no'} | {r.gamma.max:.1f} / {r.gamma.p95:.1f} | "
        f"{r.n_frames} / {r.n_selected} | {r.n_dft} | "
        f"{_f(r.new_before)} → {_f(r.new_after)} | "
        f"{r.test.energy_rmse_mev:.2f}, {r.test.force_rmse:.3f} | "
        f"{_f(r.previous_test_before)} → {_f(r.previous_test_after)} | "
        f"{'–' if r.accepted is None else ('yes' if r.accepted else 'no')} | "
        f"{r.wall_time_s:.0f} |"
        for r in doc.iterations
        if r.test is not None
    ]
    return "\n".join([head, *rows]) + f"\n\nStopped: {doc.stop_reason}; {doc.n_dft} DFT calls."


def emt_pipeline(workdir: Path, temperatures: list[float]) -> ActiveLearningDoc:
    """The miniature EMT pipeline of the tests with exploration enabled."""
    sys.path.insert(0, str(ROOT))
    from pyacemaker.runner import run
    from pyacemaker.store import job_store
    from tests.conftest import MINI_EMT

    config = {**MINI_EMT, "output_dir": str(workdir / "out"),
              "active_learning": {"enabled": True, "temperatures": temperatures, "steps": 400,
                                  "max_iterations": 4}}
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    run(path, store_path=workdir / "store")
    store = job_store(workdir / "store")
    store.connect()
    docs = list(store.query({"name": "active_learning"}, properties=["output"]))
    last = max(docs, key=lambda d: len(d["output"]["iterations"]))
    return ActiveLearningDoc.model_validate(last["output"])


def from_run(run_dir: Path, plan: Plan, workdir: Path) -> ActiveLearningDoc:
    """Exploration only, from a finished run's delta potential, datasets and oracle."""
    pot = workdir / "potential"
    shutil.copytree(run_dir / "08_ace_delta", pot)
    doc = AcePotentialDoc(
        yaml_path=pot / "potential.yaml", yace_path=pot / "potential.yace",
        asi_path=pot / "potential.asi", workdir=pot,
        training_data=pot / "fitting_data_info.pckl.gzip",
        reference_energy=potential_reference_energy(pot / "potential.yaml") or {},
        elements=plan.elements, settings=plan.ace.delta, n_train=0,
        rmse_energy_mev_per_atom=0.0, rmse_forces_ev_per_a=0.0, initial_loss=0.0,
        final_loss=0.0, wall_time_s=0.0, seed=plan.seed,
    )
    settings = plan.active_learning.model_copy(update={"enabled": True})
    maker = ActiveLearningMaker(settings=settings, oracle=plan.oracle, structure=plan.structure)
    job = maker.make(
        doc,
        [str(run_dir / "03_dft_train" / "labelled.xyz"), str(run_dir / "06_pool" / "labelled.xyz")],
        [plan.ace.delta_dft_weight, 1.0],
        str(run_dir / "03_dft_test" / "labelled.xyz"),
        str(workdir / "explore"),
    )
    responses = run_locally(job, store=JobStore(MemoryStore()), ensure_success=True)
    chain = responses[job.uuid]
    output: ActiveLearningDoc = chain[max(chain)].output
    return output


def main() -> None:
    """Run one of the two benchmarks and print its table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--from-run", type=Path)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[300.0, 700.0],
                        help="exploration temperatures of the EMT run (K)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="al-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if args.from_run:
        doc = from_run(args.from_run.resolve(), expand(load_config(args.config)), workdir)
    else:
        doc = emt_pipeline(workdir, args.temperatures)
    print(f"wall time {time.perf_counter() - start:.0f} s, outputs in {workdir}")
    print(table(doc))


if __name__ == "__main__":
    main()
