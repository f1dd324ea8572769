"""Oracles: anything that turns unlabelled structures into labelled ones.

DFT (Quantum ESPRESSO), the MACE teacher and any ASE calculator named in the config
all label through :class:`CalculatorOracle`, so callers cannot tell them apart except
through the provenance string each label carries. A structure whose calculation
fails is returned in ``failed`` with the error, never silently dropped.

Every finished calculation leaves a checkpoint (``calc_NNNNN.label.json``, written
atomically) next to its folder, keyed by a hash of the structure and the oracle's
settings: a labelling stage that is started again (a killed run resumed, a FireWorks
rerun after a lost worker) reuses those results instead of repeating the calculations.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator, PropertyNotImplementedError
from ase.io import read, write
from pydantic import BaseModel, Field

from pyacemaker.data import ENERGY_KEY, attach_labels, read_dataset, write_dataset
from pyacemaker.progress import stage, track

logger = logging.getLogger(__name__)

CalculatorFactory = Callable[[Path], BaseCalculator]
TASK_FILE = "task.json"  # optional per-calculation document an engine leaves in its folder
CHECKPOINT_SUFFIX = ".label.json"  # what one finished calculation gave, for reuse on a rerun


def calc_folder(workdir: Path, index: int) -> Path:
    """Working folder of the calculation of structure ``index`` (one per structure)."""
    return workdir / f"calc_{index:05d}"


@dataclass
class FailedCalculation:
    """A structure an oracle could not label, kept with the reason."""

    index: int
    structure: Atoms
    error: str


@dataclass
class LabelResult:
    """Labelled structures (in input order, failures removed) and the failures."""

    labelled: list[Atoms] = field(default_factory=list)
    failed: list[FailedCalculation] = field(default_factory=list)
    wall_time: float = 0.0
    records: list[CalcRecord] = field(default_factory=list)

    @property
    def n_reused(self) -> int:
        """Calculations taken from a checkpoint instead of being run again."""
        return sum(r.reused for r in self.records)


@dataclass
class CalculatorOracle:
    """Label structures with an ASE calculator made fresh for each structure.

    ``factory`` receives the working folder of one calculation (engines such as pw.x
    write files there) and returns a calculator; ``source`` is the provenance string
    stored with every label (engine plus the settings that matter). A calculator with
    a ``label_info`` dict (e.g. what self-healing changed) has it copied into the
    label's ``info``; one that gives no stress for a structure (a cluster in a box)
    leaves the label without stress rather than failing.
    """

    factory: CalculatorFactory
    source: str
    compute_stress: bool = True

    def label(self, structures: Sequence[Atoms], workdir: Path) -> LabelResult:
        """Label every structure; failures are collected, not raised; checkpoints reused."""
        result = LabelResult()
        start = time.perf_counter()
        with track(f"labelled in {_where(Path(workdir))}", len(structures), "calc") as bar:
            for i, atoms in enumerate(structures):
                record, labelled = self._checkpointed(i, atoms, calc_folder(workdir, i))
                result.records.append(record)
                if labelled is not None:
                    result.labelled.append(labelled)
                else:
                    result.failed.append(FailedCalculation(i, atoms, str(record.error)))
                bar.advance(note=f"{len(result.failed)} failed" if result.failed else None)
        if result.n_reused:
            logger.info("  %d calculations reused from checkpoints", result.n_reused)
        result.wall_time = time.perf_counter() - start
        return result

    def _checkpointed(
        self, index: int, atoms: Atoms, folder: Path
    ) -> tuple[CalcRecord, Atoms | None]:
        """The calculation's checkpoint if it matches, else run it and write one."""
        key = calculation_key(atoms, self.source, self.compute_stress)
        saved = read_checkpoint(folder, key)
        if saved is not None:
            return saved
        folder.mkdir(parents=True, exist_ok=True)
        labelled: Atoms | None = None
        try:
            labelled = label_with(atoms, self.factory(folder), self.source, self.compute_stress)
            error = None
        except Exception as exc:  # every engine failure is recorded, none is fatal
            logger.warning("%s failed on structure %d: %s", self.source, index, exc)
            error = f"{type(exc).__name__}: {exc}"
        record = CalcRecord(
            index=index,
            key=key,
            state="failed" if labelled is None else "successful",
            formula=atoms.get_chemical_formula(),
            n_atoms=len(atoms),
            energy=None if labelled is None else float(labelled.info[ENERGY_KEY]),
            error=error,
            directory=str(folder),
            task=_read_json(folder / TASK_FILE),
        )
        write_checkpoint(folder, record, labelled)
        return record, labelled


def _where(workdir: Path) -> str:
    """Short name of a labelling folder for progress lines: ``03_dft_train``, ``06_pool/dft``."""
    parts = [p for p in workdir.parts if p != "calculations"]
    return parts[-1] if parts[-1][:1].isdigit() else "/".join(parts[-2:])


def label_with(
    atoms: Atoms, calc: BaseCalculator, source: str, compute_stress: bool = True
) -> Atoms:
    """Labelled copy of ``atoms`` evaluated with ``calc`` (stress when periodic and available).

    Whatever the calculator reports in ``label_info`` (e.g. pw.x heal attempts) is kept
    in ``info`` as provenance.
    """
    work = atoms.copy()
    work.calc = calc
    energy = work.get_potential_energy()
    forces = work.get_forces()
    stress = _stress(work) if compute_stress and work.pbc.all() else None
    labelled = attach_labels(atoms, energy, np.asarray(forces), stress, source)
    labelled.info.update(getattr(calc, "label_info", None) or {})
    return labelled


def _stress(work: Atoms) -> np.ndarray | None:
    """Voigt stress, or None for calculators that cannot give one (isolated clusters)."""
    try:
        return np.asarray(work.get_stress(voigt=True))
    except PropertyNotImplementedError:
        return None


def import_object(dotted: str) -> Any:
    """Import ``package.module.Name`` and return ``Name``."""
    module_name, _, attr = dotted.rpartition(".")
    if not module_name:
        raise ImportError(f"'{dotted}' is not a dotted path such as ase.calculators.emt.EMT")
    return getattr(importlib.import_module(module_name), attr)


def ase_calculator_oracle(dotted: str, kwargs: dict[str, Any] | None = None) -> CalculatorOracle:
    """Oracle from any importable ASE calculator class, e.g. ``ase.calculators.emt.EMT``.

    One instance, built on first use, labels every structure (ASE recomputes whenever
    the atoms differ): loading a universal model such as CHGNet for each structure took
    longer than its calculations (40 small cells: 150 s against a few seconds).
    """
    cls = import_object(dotted)
    options = dict(kwargs or {})
    loaded: list[BaseCalculator] = []

    def factory(_directory: Path) -> BaseCalculator:
        if not loaded:
            loaded.append(cls(**options))
        return loaded[0]

    return CalculatorOracle(factory=factory, source=f"ase:{dotted}{options if options else ''}")


class CalcRecord(BaseModel):
    """One calculation of a labelling stage: what was computed, how it ended, where.

    ``task`` is the engine's own task document (pw.x: inputs, healing attempts, timings)
    when it writes one; ``reused`` says the result came from a checkpoint of an
    earlier, interrupted attempt of the same stage.
    """

    index: int
    key: str = Field(description="sha256 of the structure and the oracle's settings")
    state: str = Field(description="successful or failed")
    formula: str
    n_atoms: int
    energy: float | None = Field(default=None, description="eV")
    error: str | None = None
    directory: str
    reused: bool = False
    task: dict[str, Any] | None = None


def calculation_key(atoms: Atoms, source: str, compute_stress: bool) -> str:
    """Hash of everything that determines a calculation's result (structure + settings)."""
    digest = hashlib.sha256()
    digest.update(f"{source}|{compute_stress}|{atoms.pbc.tolist()}".encode())
    for array in (atoms.numbers, atoms.cell.array, atoms.positions):
        digest.update(np.ascontiguousarray(np.round(array, 10)).tobytes())
    return digest.hexdigest()


def checkpoint_file(folder: Path) -> Path:
    """The checkpoint of the calculation in ``folder``, beside it (the folder is the engine's)."""
    return folder.with_name(folder.name + CHECKPOINT_SUFFIX)


def write_checkpoint(folder: Path, record: CalcRecord, labelled: Atoms | None) -> None:
    """Write the checkpoint atomically: a kill leaves either no checkpoint or a whole one."""
    text = io.StringIO()
    if labelled is not None:
        write(text, labelled, format="extxyz")
    payload = {"record": record.model_dump(mode="json"), "labelled": text.getvalue()}
    target = checkpoint_file(folder)
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, target)


def read_checkpoint(folder: Path, key: str) -> tuple[CalcRecord, Atoms | None] | None:
    """The checkpointed result of this exact calculation, or None (absent or other inputs)."""
    payload = _read_json(checkpoint_file(folder))
    if payload is None or payload["record"]["key"] != key:
        return None
    record = CalcRecord.model_validate({**payload["record"], "reused": True})
    labelled = (
        read(io.StringIO(payload["labelled"]), format="extxyz") if payload["labelled"] else None
    )
    return record, cast(Atoms | None, labelled)


def _read_json(path: Path) -> dict[str, Any] | None:
    return cast(dict[str, Any], json.loads(path.read_text())) if path.is_file() else None


class FailedRecord(BaseModel):
    """A structure the oracle could not label, with the reason (never dropped silently)."""

    index: int
    error: str


class LabelDoc(BaseModel):
    """A labelled dataset and what it cost: calls made, failures, wall time, provenance."""

    dataset: str
    failed_dataset: str | None
    n_labelled: int
    n_failed: int
    n_calls: int
    failures: list[FailedRecord]
    source: str
    wall_time: float
    tasks: str | None = None
    n_healed: int = 0
    n_corrections: int = 0
    n_reused: int = Field(default=0, description="calculations taken from checkpoints")
    calculations: list[CalcRecord] = Field(default_factory=list)


class Labeller(Protocol):
    """What :func:`label_dataset` needs: a provenance string and ``label``."""

    @property
    def source(self) -> str:
        """Provenance of the labels."""
        ...

    def label(self, structures: Sequence[Atoms], workdir: Path) -> LabelResult:
        """Label structures, failures collected."""
        ...


def write_failed(result: LabelResult, folder: Path) -> str | None:
    """Write the failed structures, each with its error in ``info["error"]``, to ``failed.xyz``.

    Failures are data: they can be inspected or resubmitted, never silently dropped.
    Returns the file's path, or None when nothing failed.
    """
    if not result.failed:
        return None
    for f in result.failed:
        f.structure.info["error"] = f.error
    return str(write_dataset(folder / "failed.xyz", [f.structure for f in result.failed]))


def label_dataset(oracle: Labeller, structures: str, workdir: str, what: str) -> LabelDoc:
    """Label an extxyz file into ``workdir/labelled.xyz``; failures go to ``failed.xyz``.

    Each failed structure keeps its error in ``info["error"]`` so it can be inspected
    or resubmitted; the document counts every call made, successful or not.
    """
    todo = read_dataset(structures)
    out = Path(workdir)
    with stage(what, f"{len(todo)} structures with {oracle.source}"):
        result = oracle.label(todo, out / "calculations")
    failed_path = write_failed(result, out)
    tasks_path, corrections = _collect_tasks(result.records, out / "tasks.json")
    return LabelDoc(
        dataset=str(write_dataset(out / "labelled.xyz", result.labelled)),
        failed_dataset=failed_path,
        n_labelled=len(result.labelled),
        n_failed=len(result.failed),
        n_calls=len(todo),
        failures=[FailedRecord(index=f.index, error=f.error) for f in result.failed],
        source=oracle.source,
        wall_time=result.wall_time,
        tasks=tasks_path,
        n_healed=sum(n > 0 for n in corrections),
        n_corrections=sum(corrections),
        n_reused=result.n_reused,
        calculations=result.records,
    )


def _collect_tasks(records: list[CalcRecord], target: Path) -> tuple[str | None, list[int]]:
    """Gather the engines' per-calculation task documents into one ``tasks.json``.

    Returns its path (``None`` when the engine writes none, e.g. an ASE calculator)
    and the number of corrections (self-healing reruns) of each calculation.
    """
    docs = [r.task for r in records if r.task is not None]
    if not docs:
        return None, []
    target.write_text(json.dumps(docs, indent=1))
    return str(target), [int(doc.get("n_corrections", 0)) for doc in docs]
