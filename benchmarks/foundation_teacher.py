"""Teacher routes at the same DFT data: from scratch vs CHGNet-synthetic pre-training + fine-tune.

Usage: python benchmarks/foundation_teacher.py RUN_DIR OUT_DIR [SEED ...] [--lr-factor F]
           [--labels-from OLD_OUT_DIR]                                  (default seeds 7 8 9)
       python benchmarks/foundation_teacher.py --table OUT_DIR [OUT_DIR ...]   (reprint, merged)
       python benchmarks/foundation_teacher.py --ace RUN_DIR OUT_DIR SEED ROUTE [ROUTE ...]

RUN_DIR is a finished pw.x run (e.g. the quickstart's runs/si-quickstart): its
``plan.yaml`` gives the structure, sampling and teacher settings, and its labelled
``03_dft_train`` (the training cells), ``03_dft_test`` and ``03_dft_eos`` (held out) are
read, never written. For every seed two teachers are trained on the same DFT training
cells with the plan's settings (seed replaced): ``scratch`` (TeacherTrainMaker, no
foundation) and ``pretrained`` (PretrainedTeacherMaker with ``chgnet``: synthetic
structures labelled by CHGNet, shifted onto the DFT's energy zero, a MACE pre-trained
on them, fine-tuned on the DFT cells; ``pretrained_lrF`` when fine-tuned at F times the
learning rate, :class:`Options`). Both are scored on the held-out DFT cells (test +
EOS); so are the pre-trained MACE before fine-tuning and CHGNet itself (zero-shot;
energies also after removing the mean per-atom offset, since CHGNet's zero is not
pw.x's). Writes ``results.json`` and prints a markdown table; ``--table`` merges the
routes of several OUT_DIRs seed by seed.

``--ace`` puts the teachers of one seed (trained before in OUT_DIR; ``scratch`` is
retrained there to get its TeacherDoc) through the pipeline's own later stages,
:meth:`DistillationMaker.teacher_route` with the plan's settings: teacher MD pool, its
labels, ACE base fit, delta fit on the DFT cells (no committee: plain teacher labels),
and scores the base and delivered (delta) ACE on the same held-out cells
(``ace_ROUTE_SEED/result.json``).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from ase import Atoms
from ase.calculators.calculator import BaseCalculator
from jobflow import Flow, Job, Response, run_locally

from pyacemaker.ace.pacemaker import ace_calculator
from pyacemaker.config.plan import Plan
from pyacemaker.config.schema import SamplingConfig, StructureConfig
from pyacemaker.data import energy_of, forces_of, read_dataset
from pyacemaker.dft.reference import CACHE_FILE
from pyacemaker.flows.distill import DistillationMaker
from pyacemaker.surrogate.foundation import CHGNET, foundation_calculator
from pyacemaker.surrogate.jobs import TeacherTrainMaker
from pyacemaker.surrogate.mace import mace_calculator
from pyacemaker.surrogate.pretrain import PretrainedTeacherMaker
from pyacemaker.surrogate.schemas import MaceTrainSettings, TeacherDoc

SETS = ("03_dft_train", "03_dft_test", "03_dft_eos")


@dataclass
class Options:
    """``--lr-factor F``: fine-tune at F times the teacher's learning rate (route
    ``pretrained_lrF``); ``--labels-from OLD_OUT``: pre-train on the CHGNet labels of the
    synthetic cells an earlier run of this benchmark made (the same seed draws the same
    cells), instead of drawing and labelling them again."""

    lr_factor: float = 1.0
    labels_from: Path = Path()


def errors(calc: BaseCalculator, cells: Sequence[Atoms]) -> dict[str, float]:
    """Energy (raw and mean-offset-removed, meV/atom) and force (eV/Å) RMSE of ``calc``."""
    de, df = [], []
    for atoms in cells:
        work = atoms.copy()
        work.calc = calc
        de.append((float(work.get_potential_energy()) - energy_of(atoms)) / len(atoms))
        df.append((np.asarray(work.get_forces(), dtype=float) - forces_of(atoms)).ravel())
    e = np.array(de)
    f = np.concatenate(df)
    return {
        "energy_mev": 1000 * float(np.sqrt(np.mean(e**2))),
        "energy_offset_removed_mev": 1000 * float(np.std(e)),
        "forces": float(np.sqrt(np.mean(f**2))),
    }


def outputs(flow: Flow | Job) -> dict[str, Any]:
    """Run ``flow``; every job's output by its uuid."""
    responses: dict[str, dict[int, Response[Any]]]
    responses = run_locally(flow, ensure_success=True, log=False)
    return {uuid: max(r.items())[1].output for uuid, r in responses.items()}


Route = tuple[str, Path, float | None]  # name, model file, training wall time (None: reused)


def trained(route: str, workdir: Path, build: Callable[[], Job | Flow]) -> Route:
    """The teacher model in ``workdir``, trained by ``build()`` unless already there.

    An interrupted benchmark resumes without retraining (wall time then None). The
    TeacherDoc is kept beside the model (``teacher_doc.json``).
    """
    model = workdir / "mace" / "teacher.model"
    if model.is_file():
        return route, model, None
    start = time.perf_counter()
    for doc in outputs(build()).values():  # the pre-trained model's too
        if isinstance(doc, TeacherDoc):
            path = doc.model_path.parent.parent / "teacher_doc.json"
            path.write_text(doc.model_dump_json(indent=1))
    return route, model, time.perf_counter() - start


def one_seed(
    plan: dict[str, Any], train: str, held: list[Atoms], out: Path, seed: int, opts: Options
) -> Iterator[dict[str, Any]]:
    """The teacher routes for one seed, scored on the held-out cells as each finishes."""
    settings = MaceTrainSettings(**{**plan["teacher"]["settings"], "seed": seed})
    row: dict[str, Any] = {"seed": seed}
    route = "pretrained" if opts.lr_factor == 1 else f"pretrained_lr{opts.lr_factor:g}"
    scratch_dir, tuned_dir = out / f"scratch_{seed}", out / f"{route}_{seed}"
    maker = PretrainedTeacherMaker(
        foundation=CHGNET,
        structure=StructureConfig(**plan["structure"]),
        sampling=SamplingConfig(**plan["sampling"]),
        seed=seed,
        finetune=TeacherTrainMaker(
            settings=settings.model_copy(update={"lr": settings.lr * opts.lr_factor})
        ),
    )
    labels = opts.labels_from / f"pretrained_{seed}" / "pretrain" / "label" / "labelled.xyz"
    build = (
        partial(maker.make, train, str(tuned_dir))
        if opts.labels_from == Path()
        else lambda: Flow(list[Flow | Job](maker.train_stages(str(labels), train, str(tuned_dir))))
    )
    scratch = partial(TeacherTrainMaker(settings=settings).make, train, str(scratch_dir))
    pre_model = tuned_dir / "pretrain" / "mace" / "mace" / "teacher.model"
    routes = [
        trained("scratch", scratch_dir, scratch),
        trained(route, tuned_dir, build),
        (f"{route}: pretrain only", pre_model, None),
    ]
    for name, model, wall in routes:
        row[name] = errors(mace_calculator(model), held)
        if wall is not None:
            row[name]["wall_s"] = wall
        doc = model.parent.parent / "teacher_doc.json"
        if name == route and doc.is_file():
            choice = json.loads(doc.read_text())["foundation_resolution"]
            row["energy_offsets"] = choice["energy_offsets"]
        yield row


def table(results: dict[str, Any]) -> str:
    """Markdown table: one line per route, mean and min-max over seeds."""
    rows = results["seeds"]
    lines = [
        "| route (held-out DFT: test + EOS) | forces eV/Å | energy meV/atom "
        "| energy, offset removed | wall s |",
        "|---|---|---|---|---|",
    ]

    def cell(route: str, key: str, fmt: str) -> str:
        vals = [r[route][key] for r in rows if key in r.get(route, {})]
        if not vals:
            return "-"
        return f"{np.mean(vals):{fmt}} ({min(vals):{fmt}}–{max(vals):{fmt}})"

    routes = (k for r in rows for k, v in r.items() if isinstance(v, dict) and "forces" in v)
    for route in dict.fromkeys(routes):
        lines.append(
            f"| {route} | {cell(route, 'forces', '.3f')} | {cell(route, 'energy_mev', '.1f')} "
            f"| {cell(route, 'energy_offset_removed_mev', '.1f')} "
            f"| {cell(route, 'wall_s', '.0f')} |"
        )
    for name, z in results["chgnet_zero_shot"].items():
        lines.append(
            f"| CHGNet zero-shot on {name} | {z['forces']:.3f} | {z['energy_mev']:.0f} "
            f"| {z['energy_offset_removed_mev']:.1f} | - |"
        )
    return "\n".join(lines)


def delivered(run_dir: Path, out: Path, seed: int, routes: list[str]) -> None:
    """``--ace``: the ACE each teacher of ``seed`` delivers (module docstring)."""
    plan = Plan.model_validate(yaml.safe_load((run_dir / "plan.yaml").read_text()))
    maker = DistillationMaker.from_plan(plan)
    train = str(out / "train.xyz")
    held = [a for name in SETS[1:] for a in read_dataset(run_dir / name / "labelled.xyz")]
    cache = out / "reference_cache"  # the run's isolated-atom energies: no pw.x call here
    cache.mkdir(exist_ok=True)
    shutil.copy(run_dir / "03_reference" / CACHE_FILE, cache / CACHE_FILE)
    for route in routes:  # one result file per route: several processes may run at once
        d = out / f"ace_{route}_{seed}"
        teacher = out / f"{route}_{seed}"
        if route == "scratch":
            teacher = d / "04_teacher"
            settings = plan.teacher.settings.model_copy(update={"seed": seed})
            scratch = TeacherTrainMaker(settings=settings)
            trained(route, teacher, partial(scratch.make, train, str(teacher)))
        doc = TeacherDoc.model_validate_json((teacher / "teacher_doc.json").read_text())
        ref = replace(maker.reference, cache_dir=str(cache)).make(train, str(d / "03_reference"))
        start = time.perf_counter()
        md, pool, base, delta = maker.teacher_route(doc, train, ref.output, d)
        done = outputs(Flow([ref, md, pool, base, delta]))
        result = {
            "teacher_model": str(doc.model_path),
            "base": errors(ace_calculator(done[base.uuid]), held),
            "delivered": errors(ace_calculator(done[delta.uuid]), held),
            "wall_s": time.perf_counter() - start,
        }
        (d / "result.json").write_text(json.dumps(result, indent=1))
        print(route, json.dumps(result), flush=True)


def main(argv: list[str]) -> None:
    if argv[:1] == ["--ace"]:
        delivered(Path(argv[1]), Path(argv[2]).resolve(), int(argv[3]), argv[4:])
        return
    if argv[:1] == ["--table"]:  # one or more OUT dirs (e.g. one per seed, run in parallel)
        parts = [json.loads((Path(d) / "results.json").read_text()) for d in argv[1:]]
        by_seed: dict[int, dict[str, Any]] = {}  # one row per seed, routes from every part
        for row in (row for part in parts for row in part["seeds"]):
            by_seed.setdefault(row["seed"], {}).update(row)
        print(table({**parts[0], "seeds": list(by_seed.values())}))
        return
    opts, rest = Options(), list(argv)
    flags = (("--lr-factor", "lr_factor", float), ("--labels-from", "labels_from", Path))
    for flag, attr, kind in flags:
        if flag in rest:
            i = rest.index(flag)
            setattr(opts, attr, kind(rest[i + 1]))
            del rest[i : i + 2]
    run_dir, out = Path(rest[0]), Path(rest[1]).resolve()
    seeds = [int(s) for s in rest[2:]] or [7, 8, 9]
    out.mkdir(parents=True, exist_ok=True)
    plan = yaml.safe_load((run_dir / "plan.yaml").read_text())
    data = {name: read_dataset(run_dir / name / "labelled.xyz") for name in SETS}
    train = str(out / "train.xyz")
    Path(train).write_text((run_dir / SETS[0] / "labelled.xyz").read_text())
    held = data["03_dft_test"] + data["03_dft_eos"]
    chgnet = foundation_calculator(CHGNET)
    results: dict[str, Any] = {
        "run_dir": str(run_dir),
        "chgnet_zero_shot": {
            "train": errors(chgnet, data["03_dft_train"]),
            "held-out": errors(chgnet, held),
        },
        "seeds": [],
    }
    for seed in seeds:
        results["seeds"].append({"seed": seed})
        for row in one_seed(plan, train, held, out, seed, opts):  # saved as each route finishes
            results["seeds"][-1] = row
            (out / "results.json").write_text(json.dumps(results, indent=1))
        print(table(results), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
