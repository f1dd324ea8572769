"""Who labels the validation cells: the potential under test or the reference (DFT).

Every validator asks one question of both sides — "energy, forces and stress of these
cells" — so phonons, elastic constants and the EOS are computed the same way for the
ACE potential and for the DFT reference, and any ASE calculator can stand in for DFT
(EMT in the tests). A reference that fails on a cell stops the validator: a phonon or
elastic fit with a missing point would be silently wrong.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ase import Atoms
from ase.calculators.calculator import BaseCalculator

from pyacemaker.oracle import CalculatorOracle, label_with


class ReferenceFailedError(RuntimeError):
    """The reference could not label a validation cell."""


@dataclass
class Labeller:
    """Labels cells (``REF_energy``/``REF_forces``/``REF_stress``), counts calls and time.

    ``label_fn`` receives the cells and a short task name (``phonons``, ``elastic``...),
    which oracles use as the folder of their calculations.
    """

    label_fn: Callable[[Sequence[Atoms], str], list[Atoms]]
    source: str
    calls: int = 0
    seconds: float = 0.0  # wall time of the labelling calls (the run's DFT ledger)

    def label(self, cells: Sequence[Atoms], task: str) -> list[Atoms]:
        """Labelled copies of ``cells`` in order (raises if any cannot be labelled)."""
        self.calls += len(cells)
        start = time.perf_counter()
        try:
            return self.label_fn(cells, task)
        finally:
            self.seconds += time.perf_counter() - start


def calculator_labeller(calc: BaseCalculator, source: str) -> Labeller:
    """A labeller evaluating one in-memory calculator (a potential, EMT): no files."""

    def label(cells: Sequence[Atoms], _task: str) -> list[Atoms]:
        return [label_with(atoms, calc, source) for atoms in cells]

    return Labeller(label, source)


def oracle_labeller(oracle: CalculatorOracle, workdir: str | Path) -> Labeller:
    """A labeller running an oracle (pw.x) with each task's calculations under ``workdir``."""

    def label(cells: Sequence[Atoms], task: str) -> list[Atoms]:
        result = oracle.label(cells, Path(workdir) / task)
        if result.failed:
            first = result.failed[0]
            raise ReferenceFailedError(
                f"{oracle.source} failed on {len(result.failed)} {task} cell(s); "
                f"first (cell {first.index}): {first.error}"
            )
        return result.labelled

    return Labeller(label, oracle.source)
