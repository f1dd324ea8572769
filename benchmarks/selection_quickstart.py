"""Selection at equal DFT budget on the quickstart (silicon, real pw.x): DIRECT vs random.

    python benchmarks/selection_quickstart.py label OUT SEED     # pw.x on every candidate
    python benchmarks/selection_quickstart.py score OUT SEED [--draws R] [--mix OTHER]
        [--n N --methods direct] [--functions F] [--kappa K]   # budget, basis, weights
    python benchmarks/selection_quickstart.py table OUT
    python benchmarks/selection_quickstart.py kinds OUT SEED --mix OTHER   # mix errors per kind
    python benchmarks/selection_quickstart.py eos OUT SEED      # a0, B0, B' of every fit vs pw.x
    python benchmarks/selection_quickstart.py offsets OUT SEED  # held-out energy error per cell

``label``: the quickstart's own candidates and held-out cells at config seed SEED (its
``CandidateMaker``), its own screen (geometry + CHGNet), and pw.x on *every* screened
candidate and held-out cell, checkpointed in ``OUT/sSEED`` (one serial pw.x; run seeds
in parallel). Any selection of the quickstart's ``n_train`` cells then costs no further
DFT, so selection methods and many random draws are compared on identical labels.

``score``: each selection method picks ``n_train`` of the labelled candidates on the
pipeline's descriptor (radial, as the quickstart's selector), ACE is fitted directly on
them with the quickstart's base settings, and scored on the held-out pw.x cells; R random
draws are matched to each method's atom count (``baselines.random_draw``: same calls, the
closest atoms). ``table`` prints the markdown table docs/benchmarks.md quotes; ``kinds``
splits each fit's errors on the other seed's candidates by generator (strain, rattle,
vacancy, interstitial), which shows where a random draw fails.
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
CONFIG = ROOT / "workflows" / "quickstart" / "si.yaml"
sys.path.insert(0, str(ROOT / "benchmarks"))
CUTOFF = 5.0  # Å: the quickstart's ACE cutoff, which its selector's descriptor uses


def seed_plan(seed: int, out: Path):  # type: ignore[no-untyped-def]
    """The quickstart's plan at config seed ``seed``, writing under ``out``."""
    from pyacemaker.runner import plan_from_file

    config = yaml.safe_load(CONFIG.read_text())
    config.update(seed=seed, name=f"si-selection-{seed}", output_dir=str(out / "run"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config))
    return plan_from_file(out / "config.yaml")


def label(out: Path, seed: int) -> None:
    """Generate, screen, and label every kept candidate and every held-out cell with pw.x."""
    from jobflow import run_locally

    from pyacemaker.data import read_dataset, write_dataset
    from pyacemaker.dft.reference import reference_energies
    from pyacemaker.flows.distill import DistillationMaker
    from pyacemaker.oracle import label_dataset

    folder = out / f"s{seed}"
    plan = seed_plan(seed, folder)
    maker = DistillationMaker.from_plan(plan)
    gen_job = maker.generate.make(str(folder / "generate"))
    gen = run_locally(gen_job, ensure_success=True)[gen_job.uuid][1].output
    pool = read_dataset(gen.candidates)
    kept = maker.select._screened(pool)  # the selector's own screen
    write_dataset(folder / "kept.xyz", [pool[i] for i in kept])
    oracle = plan.oracle.build()
    test = label_dataset(oracle, gen.test, str(folder / "dft_test"), "held-out")
    reference_energies(plan.oracle, test.dataset, str(folder / "reference"))
    doc = label_dataset(oracle, str(folder / "kept.xyz"), str(folder / "dft_pool"), "pool")
    print(f"seed {seed}: {doc.n_labelled} of {len(kept)} candidates, {test.n_labelled} held-out")


def weighted_direct(pool: list[Atoms], features: np.ndarray, n: int, seed: int) -> list[int]:
    """DIRECT with k-means weighted by atom count: clusters follow the atoms, not the cells."""
    from sklearn.cluster import KMeans

    from pyacemaker.selection.direct import reduce

    z = reduce(features)
    sizes = np.array([len(a) for a in pool], dtype=float)
    km = KMeans(n_clusters=n, n_init=10, random_state=seed).fit(z, sample_weight=sizes)
    dist = np.linalg.norm(z - km.cluster_centers_[km.labels_], axis=1)
    picks = []
    for c in range(n):
        members = np.flatnonzero(km.labels_ == c)
        if len(members):
            picks.append(int(min(members, key=lambda i: (dist[i], i))))
    return picks


def environment_cover(pool: list[Atoms], features: np.ndarray, n: int, seed: int) -> list[int]:
    """``sampling.selection: cover`` (``selection.cover.environment_cover``)."""
    from pyacemaker.selection.cover import environment_cover as cover

    return cover(pool, n, cutoff=CUTOFF, seed=seed).indices


def pipeline_direct(pool: list[Atoms], features: np.ndarray, n: int, seed: int) -> list[int]:
    """The pipeline's selector as it is (``selection.direct.direct_sampling``)."""
    from pyacemaker.selection.direct import direct_sampling

    return direct_sampling(features, n, seed=seed).indices


METHODS = {"direct": pipeline_direct, "direct_weighted": weighted_direct,
           "environment_cover": environment_cover}  # fmt: skip


def errors_per_set(calc, tests: dict[str, list[Atoms]]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Energy and force RMSE of ``calc`` per test set (``held_out`` without a prefix)."""
    from pyacemaker.validation.metrics import errors_against

    row = {}
    for name, structures in tests.items():
        err = errors_against(structures, calc)
        prefix = "" if name == "held_out" else f"{name}_"
        row[f"{prefix}energy_rmse_mev"] = err.energy_rmse_mev
        row[f"{prefix}force_rmse"] = err.force_rmse
    return row


def fit_score(train: list[Atoms], folder: Path, plan, tests: dict[str, list[Atoms]], ref) -> dict:  # type: ignore[no-untyped-def]
    """ACE fitted directly on ``train`` (the quickstart's base settings); errors per test set."""
    from pyacemaker.ace.pacemaker import ace_calculator, fit_ace
    from pyacemaker.data import CONFIG_TYPE_KEY

    result = folder / "score.json"
    if result.exists():
        return dict(json.loads(result.read_text()))
    for atoms in train:
        atoms.info["weight"] = 1.0
    doc = fit_ace(train, folder / "ace", plan.ace.base, reference_energy=ref.energies,
                  reference_source=ref.energy_source)  # fmt: skip
    row: dict[str, object] = {"n": len(train), "atoms": sum(len(a) for a in train)}
    row.update(errors_per_set(ace_calculator(doc), tests))
    row.update({
           "kinds": sorted(str(a.info.get(CONFIG_TYPE_KEY, "?")) for a in train)})
    result.write_text(json.dumps(row, indent=1))
    return row


def pw_seconds(calculations: Path, n: int) -> list[float]:
    """Wall seconds of each pool calculation, from pw.x's own closing line (in label order)."""
    import re

    out = []
    for k in range(n):
        text = (calculations / f"calc_{k:05d}" / "espresso.pwo").read_text()
        minutes, secs = re.findall(r"CPU\s+(?:(\d+)m\s*)?([\d.]+)s WALL", text)[-1]
        out.append(60.0 * float(minutes or 0) + float(secs))
    return out


def score(out: Path, seed: int, draws: int, other: int | None, budget: int | None,
          methods: list[str], functions: int | None = None,
          kappa: float | None = None) -> None:  # fmt: skip
    """Every method and ``draws`` random draws per method, fitted and scored.

    Scored on the seed's held-out cells (the run's own yardstick: strained and rattled
    bulk cells) and, with ``other``, on that seed's labelled candidates (``mix``).
    ``budget``: picks other than the quickstart's ``n_train`` (rows named ``method@N``);
    ``functions``: ACE functions per element other than the plan's (``..._fF``);
    ``kappa``: pacemaker's force share of the loss other than the plan's (``..._kK``).
    """
    from baselines import random_draw

    from pyacemaker.data import read_dataset
    from pyacemaker.dft.reference import reference_energies
    from pyacemaker.selection.descriptors import structure_descriptors

    folder = out / f"s{seed}"
    plan = seed_plan(seed, folder)
    pool = read_dataset(folder / "dft_pool" / "labelled.xyz")
    tests = {"held_out": read_dataset(folder / "dft_test" / "labelled.xyz")}
    if other is not None:  # another seed's labelled candidates: the generators' whole mix
        tests["mix"] = read_dataset(out / f"s{other}" / "dft_pool" / "labelled.xyz")
    ref = reference_energies(plan.oracle, str(folder / "dft_test" / "labelled.xyz"),
                             str(folder / "reference"))  # fmt: skip
    features, _ = structure_descriptors(pool, None, plan.ace.base.cutoff)
    n = budget or plan.sampling.n_train
    tag = "" if n == plan.sampling.n_train else f"@{n}"
    changes: dict[str, float] = {}
    if functions is not None:
        changes["number_of_functions_per_element"] = functions
        tag += f"_f{functions}"
    if kappa is not None:
        changes["kappa"] = kappa
        tag += f"_k{kappa:g}"
    base = plan.ace.base.model_copy(update=changes)
    plan = plan.model_copy(update={"ace": plan.ace.model_copy(update={"base": base})})
    rows: dict[str, dict] = {}
    seconds = pw_seconds(folder / "dft_pool" / "calculations", len(pool))
    where = {id(a): k for k, a in enumerate(pool)}
    for method in methods:
        picks = METHODS[method](pool, features, n, plan.seed)
        name = method + tag
        rows[name] = fit_score([pool[i] for i in picks], folder / name, plan, tests, ref)
        rows[name]["pw_seconds"] = sum(seconds[i] for i in picks)
        atoms = rows[name]["atoms"]
        for r in range(draws):
            drawn = random_draw(pool, len(picks), atoms, 1000 * r + atoms)
            key = f"random{tag}_{atoms}_{r}"
            rows[key] = fit_score(drawn, folder / key, plan, tests, ref)
            rows[key]["pw_seconds"] = sum(seconds[where[id(a)]] for a in drawn)
        print(name, rows[name], flush=True)
    (folder / f"scores{tag}.json").write_text(json.dumps(rows, indent=1))


def _errors(rows: list[dict], prefix: str) -> str:
    """Mean energy / force of ``rows`` on one test set, with the force range when several."""
    e = [float(r[f"{prefix}energy_rmse_mev"]) for r in rows if f"{prefix}force_rmse" in r]
    f = [float(r[f"{prefix}force_rmse"]) for r in rows if f"{prefix}force_rmse" in r]
    if not f:
        return "–"
    spread = f" ({min(f):.4f}–{max(f):.4f})" if len(f) > 1 else ""
    return f"{np.mean(e):.2f} / {np.mean(f):.4f}{spread}"


def table(out: Path) -> None:
    """Markdown rows per seed and method: the method, then its random draws (mean, range)."""
    print("| seed | method | cells (atoms) | pw.x: method / random | held-out: method "
          "| held-out: random (draws) | mix: method | mix: random |")  # fmt: skip
    print("|---" * 8 + "|")
    for path in sorted(out.glob("s*/scores*.json")):
        rows = json.loads(path.read_text())
        tag = path.stem.removeprefix("scores")
        for name in (m + tag for m in METHODS if m + tag in rows):
            row = rows[name]
            prefix = f"random{tag}_{row['atoms']}_"
            rand = [v for k, v in rows.items() if k.startswith(prefix)]
            secs = f"{row['pw_seconds']:.0f} s / " + (
                f"{np.mean([v['pw_seconds'] for v in rand]):.0f} s" if rand else "–")
            print(f"| {path.parent.name[1:]} | {name} | {row['n']} ({row['atoms']}) | {secs} "
                  f"| {_errors([row], '')} | {_errors(rand, '')} ({len(rand)}) "
                  f"| {_errors([row], 'mix_')} | {_errors(rand, 'mix_')} |")  # fmt: skip


def fits(folder: Path):  # type: ignore[no-untyped-def]
    """Every fit scored in ``folder``: its name, its score row and its ASE calculator.

    The ``.yace`` carries the reference energies as E0, so pyace's calculator gives the
    total energies that ``ace.pacemaker.ace_calculator`` would.
    """
    from pyace import PyACECalculator

    for score_file in sorted(folder.glob("*/score.json")):
        row = json.loads(score_file.read_text())
        yield score_file.parent.name, row, PyACECalculator(
            str(score_file.parent / "ace" / "potential.yace"))


def family(name: str) -> str:
    """The random draws' family of a fit name (``random@24_122_3`` -> ``random@24_122``)."""
    return name.rsplit("_", 1)[0] if name.startswith("random") else name


def kinds(out: Path, seed: int, other: int) -> None:
    """Per fit of ``seed``: its training kinds, and its errors on ``other``'s mix per kind.

    Then per kind the mean pw.x seconds of a cell, and per family of random draws how many
    draws miss a defect kind and their median mix force (docs/benchmarks.md quotes both).
    """
    from collections import Counter, defaultdict

    from pyacemaker.data import CONFIG_TYPE_KEY, read_dataset
    from pyacemaker.validation.metrics import errors_against

    folder = out / f"s{seed}"
    groups: dict[str, list[Atoms]] = defaultdict(list)
    for atoms in read_dataset(out / f"s{other}" / "dft_pool" / "labelled.xyz"):
        groups[str(atoms.info[CONFIG_TYPE_KEY])].append(atoms)
    draws: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    for name, row, calc in fits(folder):
        trained = dict(Counter(row["kinds"]))
        errors = [f"{kind} {e.energy_rmse_mev:.1f} / {e.force_rmse:.3f}"
                  for kind, e in ((k, errors_against(g, calc)) for k, g in sorted(groups.items()))]
        print(f"{name}: trained on {trained}; mix: {' | '.join(errors)}")
        missing = not {"vacancy", "interstitial"} <= set(trained)
        draws[family(name)].append((missing, float(row.get("mix_force_rmse", np.nan))))
    pool = read_dataset(folder / "dft_pool" / "labelled.xyz")
    seconds = pw_seconds(folder / "dft_pool" / "calculations", len(pool))
    per_kind: dict[tuple[str, int], list[float]] = defaultdict(list)
    for atoms, secs in zip(pool, seconds, strict=True):
        per_kind[(str(atoms.info[CONFIG_TYPE_KEY]), len(atoms))].append(secs)
    print("pw.x s per cell:", {f"{k} ({n})": round(float(np.mean(v)), 1)
                               for (k, n), v in sorted(per_kind.items())})  # fmt: skip
    for fam, rows in sorted(draws.items()):
        if fam.startswith("random"):
            print(f"{fam}: {sum(m for m, _ in rows)} of {len(rows)} draws miss a defect kind; "
                  f"median mix force {np.median([f for _, f in rows]):.4f} eV/Å")


def eos(out: Path, seed: int) -> None:
    """Per fit of ``seed``: a0 and B0 against pw.x on the seed's EOS cells (labelled here).

    Then per family of random draws the median and the largest absolute B0 error.
    """
    from collections import defaultdict

    from pyacemaker.data import read_dataset
    from pyacemaker.oracle import label_dataset
    from pyacemaker.validation.eos import eos_from_calculator, eos_from_labels

    folder = out / f"s{seed}"
    plan = seed_plan(seed, folder)
    doc = label_dataset(plan.oracle.build(), str(folder / "generate" / "eos.xyz"),
                        str(folder / "dft_eos"), "eos")  # fmt: skip
    cells = read_dataset(doc.dataset)
    ref = eos_from_labels(cells, plan.a_ref, plan.v_ref)
    print(f"seed {seed} pw.x: a0 {ref.a0:.4f} Å, B0 {ref.b0_gpa:.1f} GPa, B' {ref.b0_prime:.2f}")
    b0_errors: dict[str, list[float]] = defaultdict(list)
    for name, _, calc in fits(folder):
        try:
            fit = eos_from_calculator(cells, calc, plan.a_ref, plan.v_ref)
        except RuntimeError as exc:  # no Birch-Murnaghan minimum in the range: say so
            print(f"{name}: no EOS fit ({str(exc).splitlines()[0]})")
            continue
        b0 = 100 * (fit.b0_gpa / ref.b0_gpa - 1)
        b0_errors[family(name)].append(abs(b0))
        print(f"{name}: a0 {100 * (fit.a0 / ref.a0 - 1):+.2f} %, B0 {b0:+.1f} %, "
              f"B' {fit.b0_prime - ref.b0_prime:+.2f}")  # type: ignore[operator]
    for fam, errs in sorted(b0_errors.items()):
        if fam.startswith("random"):
            print(f"{fam}: |B0 error| median {np.median(errs):.1f} %, largest {max(errs):.1f} %, "
                  f"{sum(e <= 5 for e in errs)} of {len(errs)} within 5 %")


def offsets(out: Path, seed: int) -> None:
    """Per fit of ``seed``: mean and spread of its per-cell energy errors on the held-out cells."""
    from pyacemaker.data import energy_of, read_dataset
    from pyacemaker.validation.metrics import predict

    cells = read_dataset(out / f"s{seed}" / "dft_test" / "labelled.xyz")
    for name, _, calc in fits(out / f"s{seed}"):
        energies, _ = predict(cells, calc)
        errors = np.array([1000 * (e - energy_of(a)) / len(a)
                           for e, a in zip(energies, cells, strict=True)])  # fmt: skip
        print(f"{name}: mean {errors.mean():+.2f} meV/atom, "
              f"std {errors.std():.2f}, per cell {np.round(errors, 2).tolist()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["label", "score", "table", "kinds", "eos", "offsets"])
    parser.add_argument("out", type=Path)
    parser.add_argument("seed", type=int, nargs="?", default=7)
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--mix", type=int, help="seed whose labelled candidates are a 2nd test")
    parser.add_argument("--n", type=int, help="picks per method (default: the plan's n_train)")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--functions", type=int, help="ACE functions per element (default: plan)")
    parser.add_argument("--kappa", type=float, help="force share of the ACE loss (default: plan)")
    args = parser.parse_args()
    if args.what == "label":
        label(args.out.resolve(), args.seed)
    elif args.what == "score":
        score(args.out.resolve(), args.seed, args.draws, args.mix, args.n, args.methods,
              args.functions, args.kappa)
    elif args.what == "offsets":
        offsets(args.out.resolve(), args.seed)
    elif args.what == "eos":
        eos(args.out.resolve(), args.seed)
    elif args.what == "kinds":
        kinds(args.out.resolve(), args.seed, args.mix)
    else:
        table(args.out.resolve())


if __name__ == "__main__":
    main()
