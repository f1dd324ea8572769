"""The self-healing loop: run pw.x, let the handlers diagnose, rerun corrected, in place.

A small custodian: :func:`run_with_handlers` runs pw.x in one folder, asks each
handler of :mod:`pyacemaker.dft.handlers` (in priority order) whether its failure
happened, applies the first correction offered and reruns, until a run is clean or
no handler can do more. Unlike custodian, which applies every firing handler at
once, one correction is applied per rerun, so the attempt log says which change
healed the calculation. Every calculation, healed or failed, leaves a
:class:`~pyacemaker.dft.schemas.PwTaskDoc` as ``task.json`` in its folder.

:func:`qe_oracle` puts this loop behind the :class:`~pyacemaker.oracle.CalculatorOracle`
interface the pipeline labels with.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator, Calculator, all_changes

from pyacemaker.dft.handlers import (
    PwErrorHandler,
    apply_changes,
    default_handlers,
    exit_record,
    read_output,
)
from pyacemaker.dft.qe import (
    PwCalculator,
    PwError,
    PwInputSet,
    QESettings,
    provenance,
    read_namelists,
)
from pyacemaker.dft.schemas import (
    Correction,
    PwAttempt,
    PwParseError,
    PwTaskDoc,
    pseudo_files,
    pw_metadata,
    read_pw_output,
    structure_dict,
)
from pyacemaker.oracle import TASK_FILE, CalculatorOracle

logger = logging.getLogger(__name__)

HandlerFactory = Callable[[], Sequence[PwErrorHandler]]
MAX_ATTEMPTS = 12  # safety net; the handlers' own ladders stop well before this


def run_with_handlers(
    atoms: Atoms,
    settings: QESettings,
    directory: str | Path,
    handlers: Sequence[PwErrorHandler] | None = None,
) -> tuple[PwTaskDoc, list[PwAttempt]]:
    """Run pw.x on ``atoms`` in ``directory``, healing failures; never raises on pw.x errors.

    Returns the task document (``state`` says whether a usable result came out) and
    the attempts. Bad input (:class:`~pyacemaker.dft.qe.StructureCheckError`, a missing
    pseudopotential) is raised before pw.x starts: no correction can fix it.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    active = list(default_handlers() if handlers is None else handlers)
    settings = settings.resolved()
    start = time.perf_counter()
    attempts: list[PwAttempt] = []
    while True:
        began = time.perf_counter()
        calculator, error = _run_once(atoms, settings, folder)
        correction = _first_correction(active, folder)
        attempts.append(
            PwAttempt(
                number=len(attempts) + 1,
                error=None if error is None else str(error),
                error_kind=None if error is None else error.kind,
                exit_status=exit_record(folder).get("status"),
                wall_time=time.perf_counter() - began,
                correction=correction,
            )
        )
        if correction is None or len(attempts) >= MAX_ATTEMPTS:
            break
        logger.info("pw.x in %s: %s -> %s", folder, correction.errors, correction.changes)
        settings = apply_changes(settings, correction.changes)
    task = _task_document(atoms, settings, folder, calculator.input_set, error, attempts)
    task.total_time = time.perf_counter() - start
    (folder / TASK_FILE).write_text(task.model_dump_json(indent=1))
    return task, attempts


def _run_once(
    atoms: Atoms, settings: QESettings, folder: Path
) -> tuple[PwCalculator, PwError | None]:
    calculator = PwCalculator(settings, folder)
    try:
        calculator.calculate(atoms.copy(), ["energy", "forces"], all_changes)
    except PwError as exc:
        if exc.kind == "missing":  # no pw.x: nothing to heal
            raise
        return calculator, exc
    return calculator, None


def _first_correction(handlers: Sequence[PwErrorHandler], folder: Path) -> Correction | None:
    """The correction of the first handler that fires and still has a rung to offer."""
    for handler in handlers:
        limit = handler.max_num_corrections
        if (limit is not None and handler.n_applied_corrections >= limit) or not handler.check(
            folder
        ):
            continue
        outcome = handler.correct(folder)
        if not outcome["actions"]:
            continue
        handler.n_applied_corrections += 1
        changes: dict[str, Any] = {}
        for action in outcome["actions"]:
            changes.update(action["action"]["_set"])
        return Correction(handler=type(handler).__name__, errors=outcome["errors"], changes=changes)
    return None


def _task_document(
    atoms: Atoms,
    settings: QESettings,
    folder: Path,
    input_set: PwInputSet | None,
    error: PwError | None,
    attempts: list[PwAttempt],
) -> PwTaskDoc:
    """The task document of the last attempt; a parse failure turns success into failure."""
    common: dict[str, Any] = {
        "directory": str(folder),
        "formula": atoms.get_chemical_formula(),
        "structure": structure_dict(atoms),
        "settings": settings,
        "input": {} if input_set is None else read_namelists(folder),
        "kpoints": None if input_set is None else input_set.kpts,
        "notes": [] if input_set is None else input_set.notes,
        "pseudopotentials": pseudo_files(settings),
        "attempts": attempts,
        "n_corrections": sum(a.correction is not None for a in attempts),
    }
    if error is None:
        try:
            output = read_pw_output(folder)
        except PwParseError as exc:
            error = exc
        else:
            final = atoms.copy()
            if not (input_set is not None and input_set.isolated):
                final.positions = output.positions
            return PwTaskDoc(
                state="successful",
                **common,
                final_structure=structure_dict(final),
                energy=output.energy,
                forces=output.forces,
                stress=output.stress,
                converged=output.converged,
                pw_version=output.pw_version,
                wall_time=output.wall_time,
                n_kpoints=output.n_kpoints,
            )
    return PwTaskDoc(state="failed", **common, **pw_metadata(read_output(folder)), error=str(error))


class HealingPwCalculator(Calculator):
    """ASE calculator that labels through :func:`run_with_handlers`.

    Raises :class:`~pyacemaker.dft.qe.PwError` when healing is exhausted (the oracle
    records it as a failure). :attr:`label_info` tells the oracle what healing changed,
    so the label itself carries it (``info["heal_corrections"]``, ``info["heal_changes"]``).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]  # noqa: RUF012

    def __init__(
        self,
        settings: QESettings,
        directory: str | Path,
        handlers: HandlerFactory = default_handlers,
    ) -> None:
        super().__init__(directory=str(directory))  # type: ignore[no-untyped-call]
        self.settings = settings
        self.handlers = handlers
        self.label_info: dict[str, Any] = {}

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        """Run the healing loop once per structure and expose its results."""
        super().calculate(atoms, properties, system_changes)  # type: ignore[no-untyped-call]
        if self.atoms is None:
            raise ValueError("HealingPwCalculator.calculate needs a structure")
        task, _ = run_with_handlers(self.atoms, self.settings, self.directory, self.handlers())
        if task.state == "failed" or task.energy is None or task.forces is None:
            tried = "; ".join(
                f"{a.correction.handler} {a.correction.changes}"
                for a in task.attempts
                if a.correction
            )
            raise PwError(
                f"{task.error} (after {len(task.attempts)} attempts; "
                f"corrections: {tried or 'none'})",
                task.attempts[-1].error_kind or "crash",
                Path(self.directory),
            )
        self.results = {
            "energy": task.energy,
            "free_energy": task.energy,
            "forces": np.asarray(task.forces),
        }
        if task.stress is not None:
            self.results["stress"] = np.asarray(task.stress)
        changes = [a.correction.changes for a in task.attempts if a.correction is not None]
        self.label_info = {"heal_corrections": len(changes)}
        if changes:
            self.label_info["heal_changes"] = str(changes)


def qe_oracle(
    settings: QESettings, handlers: HandlerFactory = default_handlers
) -> CalculatorOracle:
    """Oracle labelling with pw.x through the self-healing loop (one task.json per label).

    ``handlers`` makes a fresh handler list per structure (ladders start over for each);
    ``lambda: []`` turns healing off. Fails now, not per structure, if pw.x is missing.
    """
    settings = settings.resolved()

    def factory(directory: Path) -> BaseCalculator:
        return HealingPwCalculator(settings, directory, handlers)

    return CalculatorOracle(factory=factory, source=provenance(settings))
