"""One quality-loop update replayed on the current code: its guard errors and what it forgot.

    python benchmarks/loop_replay.py RUN --round R --parent JOB_NAME --mix OTHER_LABELS

RUN is a run with ``targets.loop: true`` and its embedded store beside it (``RUN/../..``
``/store``, as ``pyacemaker run --store store`` makes it); the update of round R is fitted
again from the same parent (the output of the store's job JOB_NAME, e.g. ``ace_delta`` for
a loop that continued the teacher route), the same history (``10b_quality/history.xyz``),
the same targeted cells (``round_RR/dft``) and the run's update settings, with the loop's
current replay (``flows.quality_policy.always_replayed``) and guard set (held-out, EOS and DFT
training cells). Prints the guard errors before and after, the violations, and the
parent's and the child's errors on the DFT training cells, on the loop's fresh cells and
on OTHER_LABELS' candidates (``selection_quickstart.py label``'s ``OUT/sSEED``).
docs/benchmarks.md ("The quality loop against the simple routes") quotes it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    from loop_baselines import checkpointed
    from pyace import PyACECalculator

    from pyacemaker.ace.incremental import replay_update
    from pyacemaker.ace.pacemaker import WEIGHT_KEY
    from pyacemaker.ace.schemas import AcePotentialDoc
    from pyacemaker.config.plan import Plan
    from pyacemaker.data import read_dataset
    from pyacemaker.flows.guard import guard_errors, guard_violations
    from pyacemaker.flows.quality_policy import always_replayed
    from pyacemaker.store import job_store
    from pyacemaker.validation.metrics import errors_against

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--round", type=int, default=0)
    parser.add_argument("--parent", default="ace_delta", help="the store job of the parent")
    parser.add_argument("--mix", type=Path, required=True)
    args = parser.parse_args()
    run = args.run.resolve()
    store = job_store(run.parents[1] / "store")
    store.connect()
    parent = AcePotentialDoc.model_validate(
        next(iter(store.query({"name": args.parent}, load=True)))["output"]
    )
    plan = Plan.model_validate(yaml.safe_load((run / "plan.yaml").read_text()))
    al = plan.active_learning
    new = checkpointed(run / "10b_quality" / f"round_{args.round:02d}" / "dft")
    for atoms in new:
        atoms.info[WEIGHT_KEY] = al.new_data_weight
    sets = {name: read_dataset(run / f"03_dft_{name}" / "labelled.xyz")
            for name in ("test", "eos", "train")}  # fmt: skip
    guarded = [a for cells in sets.values() for a in cells]
    child = replay_update(
        parent, read_dataset(run / "10b_quality" / "history.xyz"), new, run.parent / "replay",
        al.fit, size=al.replay_size, seed=plan.seed + args.round,
        always=always_replayed(guarded),
    )  # fmt: skip
    before, after = guard_errors(parent, guarded), guard_errors(child, guarded)
    print(f"guard before: {before}\nguard after: {after}")
    print("violations:", guard_violations(before, after, al.max_forgetting) or "none")
    fresh = read_dataset(run / "10b_quality" / "fresh_held_out.xyz")
    mix = read_dataset(args.mix / "dft_pool" / "labelled.xyz")
    tests = {"train": sets["train"], "fresh": fresh, "mix": mix}
    for name, doc in (("parent", parent), ("child", child)):
        calc = PyACECalculator(str(doc.yace_path))
        for test, cells in tests.items():
            err = errors_against(cells, calc)
            print(f"{name} on {test}: {err.energy_rmse_mev:.2f} meV/atom, "
                  f"{err.force_rmse:.4f} eV/Å")


if __name__ == "__main__":
    main()
