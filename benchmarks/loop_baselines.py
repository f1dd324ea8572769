"""A quality-loop run against the simple routes on the same DFT budget (quickstart, pw.x).

    python benchmarks/loop_baselines.py RUN LABELS [--mix OTHER_LABELS] [--draws 8]
        [--upto R --potential YACE]   # a run still in its loop: the update of round R

RUN is a finished run with ``targets.loop: true`` (e.g. the quickstart config with
``targets: {loop: true}``); LABELS is ``benchmarks/selection_quickstart.py label``'s
folder for the run's config seed (``OUT/sSEED``: the run's own 60 candidates, every one
labelled with the run's pw.x settings), OTHER_LABELS that of another seed (its labelled
candidates, defects included, are the ``mix`` test set no route has seen).

Rows, every one scored on the loop's fresh held-out cells (``10b_quality``; the loop's
judge, never trained on), on the run's held-out cells (``03_dft_test``; the loop's
guard) and on the mix, and by their bulk modulus B0 against pw.x on the judge's fresh EOS
volumes (never trained on, unlike the run's own EOS cells, which the guard uses); the
fresh score is the delivery score (energy / its target + force / its target) on the
fresh cells:

- ``delivered``: what the run delivered after the loop (``potential/``), or with
  ``--upto R --potential YACE`` the potential round R's update gave (the accepted one of
  ``10b_quality/round_RR/update*/fit/potential.yace``; the log names a rejected one,
  ``targeted update rejected (update...)``), and the DFT of rounds 0..R only;
- ``before the loop``: what the run's first validation delivered, the potential the loop
  started from (round 0's in ``metrics.json``, or ``--before YACE``);
- ``direct (training DFT)``: the run's ACE fitted directly on its DFT training cells
  (``direct_ace``), i.e. the run without the loop;
- ``direct, loop's DFT``: one pacemaker call with the run's base settings on every DFT
  label the run spent on training: its training cells plus every targeted cell the loop
  labelled (left-out families included), at weight 1;
- ``DIRECT@N``: the selector's DIRECT picks of the same number of calls N from the 60
  labelled candidates, fitted the same way;
- ``random``: R random draws of N candidates whose atom count is closest to the loop's
  (``baselines.random_draw``), fitted the same way.

So every row but ``delivered`` costs at most the run's training DFT (the loop's judge
cells are validation, which every row is scored on). docs/benchmarks.md quotes the table.
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
sys.path.insert(0, str(ROOT / "benchmarks"))


def checkpointed(folder: Path) -> list[Atoms]:
    """The labelled cells of a labelling folder, from its checkpoints (failed calcs skipped)."""
    from pyacemaker.oracle import CHECKPOINT_SUFFIX, read_checkpoint

    out = []
    for path in sorted(folder.glob(f"calc_*{CHECKPOINT_SUFFIX}")):
        key = json.loads(path.read_text())["record"]["key"]
        got = read_checkpoint(path.with_name(path.name.removesuffix(CHECKPOINT_SUFFIX)), key)
        if got is not None and got[1] is not None:
            out.append(got[1])
        else:
            print(f"{path}: no labels (a failed calculation), left out", file=sys.stderr)
    return out


def loop_dft(run: Path, upto: int | None) -> list[Atoms]:
    """The run's DFT training cells plus the targeted cells its loop labelled (to ``upto``)."""
    from pyacemaker.data import read_dataset

    train = read_dataset(run / "03_dft_train" / "labelled.xyz")
    rounds = sorted((run / "10b_quality").glob("round_*/dft"))
    if upto is not None:
        rounds = [p for p in rounds if int(p.parent.name.removeprefix("round_")) <= upto]
    return [*train, *(a for folder in rounds for a in checkpointed(folder))]


def scored(yace: Path, tests: dict[str, list[Atoms]], eos: list[Atoms], plan) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Energy and force RMSE per test set (``held_out`` unprefixed); B0 error on ``eos``."""
    from pyace import PyACECalculator
    from selection_quickstart import errors_per_set

    from pyacemaker.validation.delivery import score
    from pyacemaker.validation.eos import eos_from_calculator, eos_from_labels
    from pyacemaker.validation.metrics import ErrorMetrics

    calc = PyACECalculator(str(yace))
    row = errors_per_set(calc, tests)
    fresh = ErrorMetrics(energy_rmse_mev=row["fresh_energy_rmse_mev"],
                         force_rmse=row["fresh_force_rmse"], n=len(tests["fresh"]))  # fmt: skip
    row["fresh_score"] = score(fresh, plan.validation)  # the delivery score, on fresh cells
    ref = eos_from_labels(eos, plan.a_ref, plan.v_ref)
    try:
        fit = eos_from_calculator(eos, calc, plan.a_ref, plan.v_ref)
        row["b0_error_pct"] = 100 * (fit.b0_gpa / ref.b0_gpa - 1)
    except RuntimeError:  # no Birch-Murnaghan minimum in the range: counted, not hidden
        row["b0_error_pct"] = float("nan")
    return row


def started_from(run: Path) -> Path:
    """The ``.yace`` the loop of a finished run started from (its round 0's potential)."""
    rounds = json.loads((run / "metrics.json").read_text())["quality"]["rounds"]
    return Path(rounds[0]["potential"]).with_suffix(".yace")


def rows(run: Path, labels: Path, mix: Path | None, draws: int, upto: int | None = None,
         potential: Path | None = None, before: Path | None = None) -> dict[str, dict]:  # fmt: skip
    """Every row of the table for one run (fits cached in ``RUN_loop_baselines``)."""
    from baselines import random_draw
    from selection_quickstart import fit_score, pipeline_direct

    from pyacemaker.config.plan import Plan
    from pyacemaker.data import read_dataset
    from pyacemaker.dft.reference import reference_energies
    from pyacemaker.selection.descriptors import structure_descriptors

    plan = Plan.model_validate(yaml.safe_load((run / "plan.yaml").read_text()))
    work = run.parent / (run.name + "_loop_baselines" + ("" if upto is None else f"_{upto}"))
    tests = {
        "held_out": read_dataset(run / "03_dft_test" / "labelled.xyz"),
        "fresh": read_dataset(run / "10b_quality" / "fresh_held_out.xyz"),
    }
    if mix is not None:  # another seed's 60 candidates: defects no route has seen
        tests["mix"] = read_dataset(mix / "dft_pool" / "labelled.xyz")
    ref = reference_energies(plan.oracle, str(labels / "dft_test" / "labelled.xyz"),
                             str(labels / "reference"))  # fmt: skip
    eos = checkpointed(run / "10b_quality" / "judge" / "eos")  # the judge's fresh volumes
    yaces = {"delivered": potential or min((run / "potential").glob("*.yace")),
             "before the loop": before or started_from(run),
             "direct (training DFT)": min((run / "07b_ace_direct").glob("*.yace"))}  # fmt: skip
    dft = loop_dft(run, upto)
    n, atoms = len(dft), sum(len(a) for a in dft)
    pool = read_dataset(labels / "dft_pool" / "labelled.xyz")
    features, _ = structure_descriptors(pool, None, plan.ace.base.cutoff)
    picks = pipeline_direct(pool, features, min(n, len(pool)), plan.seed)
    fits = {"direct, loop's DFT": ("direct_loop_dft", dft),
            f"DIRECT@{len(picks)}": ("direct_picks", [pool[i] for i in picks])}  # fmt: skip
    for r in range(draws):
        fits[f"random_{r}"] = (f"random_{r}", random_draw(pool, n, atoms, 1000 * r + atoms))
    for name, (folder, train) in fits.items():
        fit_score(train, work / folder, plan, tests, ref)
        yaces[name] = work / folder / "ace" / "potential.yace"
    out = {name: scored(yace, tests, eos, plan) for name, yace in yaces.items()}
    out["budget"] = {"n": n, "atoms": atoms}
    (work / "rows.json").write_text(json.dumps(out, indent=1))
    return out


def _b0(values: list[dict]) -> str:
    b0 = [abs(v["b0_error_pct"]) for v in values if np.isfinite(v["b0_error_pct"])]
    failed = len(values) - len(b0)
    tail = f", {failed} without an EOS minimum" if failed else ""
    if not b0:
        return f"no EOS minimum{tail}"
    return (f"{np.median(b0):.1f} % (worst {max(b0):.1f} %{tail})" if len(values) > 1
            else f"{b0[0]:.1f} %")  # fmt: skip


def _cell(values: list[dict], prefix: str) -> str:
    if f"{prefix}force_rmse" not in values[0]:
        return "—"  # a test set not given (no --mix)
    e = [v[f"{prefix}energy_rmse_mev"] for v in values]
    f = [v[f"{prefix}force_rmse"] for v in values]
    spread = f" ({min(f):.4f}–{max(f):.4f})" if len(f) > 1 else ""
    return f"{np.mean(e):.2f} / {np.mean(f):.4f}{spread}"


def table(run: Path, out: dict[str, dict]) -> str:
    """Markdown rows: each route's fresh / held-out / mix errors (random: mean, force range)."""
    budget = out["budget"]
    groups = {k: [v] for k, v in out.items() if k != "budget" and not k.startswith("random")}
    draws = [v for k, v in out.items() if k.startswith("random")]
    groups[f"random, same budget ({len(draws)} draws)"] = draws
    lines = [f"{run.name}: loop's training DFT {budget['n']} calls, {budget['atoms']} atoms",
             "| route | fresh held-out | fresh score | run's held-out (guard) | mix "
             "| fresh EOS: abs. B0 error |", "|---|---|---|---|---|---|"]  # fmt: skip
    for name, values in groups.items():
        fresh, guard, mix = (_cell(values, p) for p in ("fresh_", "", "mix_"))
        score = np.mean([v["fresh_score"] for v in values])
        lines.append(f"| {name} | {fresh} | {score:.2f} | {guard} | {mix} | {_b0(values)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished run with targets.loop: true")
    parser.add_argument("labels", type=Path, help="selection_quickstart.py label OUT/sSEED")
    parser.add_argument("--mix", type=Path, help="another seed's OUT/sSEED (else no mix column)")
    parser.add_argument("--draws", type=int, default=8)
    parser.add_argument("--upto", type=int, help="the DFT of loop rounds 0..UPTO only")
    parser.add_argument("--potential", type=Path, help="with --upto: that round's update")
    parser.add_argument("--before", type=Path, help="the .yace the loop started from")
    args = parser.parse_args()
    run = args.run.resolve()
    mix = args.mix.resolve() if args.mix else None
    out = rows(run, args.labels.resolve(), mix, args.draws, args.upto,
               args.potential, args.before)  # fmt: skip
    print(table(run, out))


if __name__ == "__main__":
    main()
