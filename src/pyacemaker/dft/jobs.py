"""Makers that run the oracle: dataset labelling, isolated atoms, single pw.x static / relax.

Also :class:`OracleLabelsMaker`, which gathers what the oracle labelled along a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Literal, cast

from ase import Atoms
from ase.io import read
from jobflow import Maker, Response, job

from pyacemaker.data import SOURCE_KEY, read_dataset, write_dataset
from pyacemaker.dft.healing import run_with_handlers
from pyacemaker.dft.oracle import OracleSpec
from pyacemaker.dft.pseudo import PseudopotentialNotFoundError
from pyacemaker.dft.qe import QESettings, StructureCheckError
from pyacemaker.dft.reference import ATOM_BOX, ReferenceEnergyDoc, reference_energies
from pyacemaker.dft.schemas import PwTaskDoc, structure_dict
from pyacemaker.oracle import LabelDoc, label_dataset


@dataclass
class LabelMaker(Maker):
    """Label every structure of an extxyz file with the configured oracle (DFT by default).

    With pw.x each structure runs through the self-healing loop; ``tasks.json`` next to
    ``labelled.xyz`` holds the task document of every calculation.
    """

    name: str = "dft"
    oracle: OracleSpec = field(default_factory=OracleSpec)

    @job
    def make(self, structures: str, workdir: str) -> LabelDoc:
        """Write ``labelled.xyz`` (and ``failed.xyz`` with the error per structure).

        Raises OracleFailedError when structures were given and none was labelled: the
        stage then fails with the oracle's own reason (e.g. "No EMT-potential for Ga")
        instead of the run failing later, at the first fit, on an empty dataset.
        """
        doc = label_dataset(self.oracle.build(), structures, workdir, self.name)
        if doc.n_calls and not doc.n_labelled:
            raise OracleFailedError(
                f"{self.name}: the oracle failed on all {doc.n_calls} structures "
                f"(each with its error in {doc.failed_dataset}); the first: "
                f"{doc.failures[0].error}"
            )
        return doc


class OracleFailedError(RuntimeError):
    """A labelling stage labelled nothing: every structure failed in the oracle."""


@dataclass
class IsolatedAtomMaker(Maker):
    """The energy zero of the potentials: each element's isolated atom, with the oracle.

    Runs once per element of the training set (cached in ``cache_dir``, by default the
    job's folder); ``shift`` adds one common per-atom shift fitted to the training set
    (default: the ACE then fits a small residual, not the whole binding energy); falls
    back to the least-squares zero, recorded, when an atom fails.
    Rules and measured costs: :mod:`pyacemaker.dft.reference`.
    """

    name: str = "reference"
    oracle: OracleSpec = field(default_factory=OracleSpec)
    box: float = ATOM_BOX
    cache_dir: str | None = None
    shift: bool = True

    @job
    def make(self, dataset: str, workdir: str) -> ReferenceEnergyDoc:
        """Energies per element of the structures in ``dataset`` (an extxyz file)."""
        return reference_energies(
            self.oracle, dataset, workdir, self.box, self.cache_dir, self.shift
        )


@dataclass
class OracleLabelsMaker(Maker):
    """Every structure the oracle labelled, gathered from a labelled history.

    Exploration keeps one history of the DFT training cells, the teacher's pool and the
    oracle-labelled cut-outs; the structures whose ``label_source`` is one of the DFT
    training set's are the run's DFT (pool frames the tiered oracle sent to DFT
    included). Per-atom force weights (a cut-out's buffer) and energy weights stay as
    labelled, so a fit on the result learns what the oracle computed and nothing else.
    """

    name: str = "oracle_labels"

    @job
    def make(self, train: str, history: str, workdir: str) -> str:
        """Write ``workdir/labelled.xyz`` (the oracle's structures) and return its path."""
        sources = {a.info.get(SOURCE_KEY) for a in read_dataset(train)}
        labelled = [a for a in read_dataset(history) if a.info.get(SOURCE_KEY) in sources]
        return str(write_dataset(Path(workdir) / "labelled.xyz", labelled))


@dataclass
class PwStaticMaker(Maker):
    """One pw.x calculation with self-healing; a job-level retry when healing runs out.

    The job runs :func:`~pyacemaker.dft.healing.run_with_handlers` in
    ``workdir/attempt_N``. If the calculation still fails and fewer than
    ``max_job_attempts`` jobs have tried, it replaces itself (``Response(replace=...)``)
    with a job starting from the escalated settings of the failed one: fresh handlers
    then continue each ladder from there (lower ``mixing_beta`` still, more steps, ...).
    The last job returns the failed task document (structure, inputs, last error,
    attempts) instead of raising, so the flow goes on and the failure is on record.
    """

    name: str = "qe static"
    settings: QESettings = field(default_factory=QESettings)
    max_job_attempts: int = 2
    calculation: ClassVar[Literal["scf", "relax"]] = "scf"

    @job
    def make(self, structure: str, workdir: str, attempt: int = 1) -> Response[PwTaskDoc]:
        """Compute ``structure`` (any file ASE reads); output: a :class:`PwTaskDoc`."""
        atoms = cast(Atoms, read(structure, index=0))
        settings = self.settings.model_copy(update={"calculation": self.calculation})
        folder = Path(workdir) / f"attempt_{attempt}"
        try:
            task, _ = run_with_handlers(atoms, settings.with_elements(atoms.symbols), folder)
        except (StructureCheckError, PseudopotentialNotFoundError, ValueError) as exc:
            # bad input (checked before pw.x starts, incl. unresolvable cutoffs): no rerun
            return Response(output=_rejected(atoms, settings, folder, exc))
        if task.state == "successful" or attempt >= self.max_job_attempts:
            return Response(output=task)
        retry = replace(self, settings=task.settings)
        follow_up = retry.make(structure, workdir, attempt + 1)
        follow_up.name = f"{self.name} {attempt + 1}"
        return Response(replace=follow_up)


@dataclass
class PwRelaxMaker(PwStaticMaker):
    """Like :class:`PwStaticMaker`, relaxing the atoms (pw.x ``calculation='relax'``)."""

    name: str = "qe relax"
    calculation: ClassVar[Literal["scf", "relax"]] = "relax"


def _rejected(atoms: Atoms, settings: QESettings, folder: Path, exc: Exception) -> PwTaskDoc:
    """Failed record for input no rerun can fix (pw.x never started)."""
    return PwTaskDoc(
        state="failed",
        directory=str(folder),
        formula=atoms.get_chemical_formula(),
        structure=structure_dict(atoms),
        settings=settings,
        error=f"{type(exc).__name__}: {exc}",
    )
