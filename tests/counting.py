"""A slow, counting EMT oracle, and a quick EMT pipeline config, for the scale-out tests.

Subprocess runs name it in their config (``oracle.engine: tests.counting.CountingEMT``),
so a test can tell exactly which structures were computed, and how often, across a
killed and a resumed run.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.emt import EMT

from .conftest import MINI_EMT

# MINI_EMT with the validation suite and the fits cut down, for tests where the pipeline
# only has to run through (resume, FireWorks, queries), not to give a good potential.
QUICK_EMT: dict[str, Any] = {
    **MINI_EMT,
    "teacher": {**MINI_EMT["teacher"], "max_num_epochs": 5},
    "pool": {**MINI_EMT["pool"], "temperatures": [500], "steps": 40},
    # a few BFGS iterations on purpose (these runs test resume and querying, not accuracy):
    # the fit guard would rightly call such fits unfitted, so it is switched off here
    "ace": {"n_functions": 10, "max_iter": 15, "delta_max_iter": 10, "max_rmse_fraction": 1e6},
    "validation": {"phonons": False, "elastic": False, "md": False},
}


def structure_key(atoms: Atoms) -> str:
    """Short hash of numbers, cell and positions (rounded as extxyz files keep them)."""
    digest = hashlib.sha256(atoms.numbers.tobytes())
    for array in (atoms.cell.array, atoms.positions):
        digest.update(np.round(np.asarray(array, dtype=float), 5).tobytes())
    return digest.hexdigest()[:16]


class CountingEMT(EMT):  # type: ignore[misc]
    """EMT that sleeps ``delay`` s and appends the structure's key to ``log`` per calculation.

    ASE calls ``calculate`` only when the atoms changed (EMT computes energy, forces and
    stress at once), so one line is one oracle calculation, also when the oracle reuses one
    instance for every structure (as ``oracle.ase_calculator_oracle`` does).
    """

    def __init__(self, log: str, delay: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log, self.delay = Path(log), delay

    def calculate(self, atoms: Atoms | None = None, *args: Any, **kwargs: Any) -> None:
        super().calculate(atoms, *args, **kwargs)
        if atoms is not None:
            time.sleep(self.delay)
            with self.log.open("a") as fh:
                fh.write(structure_key(atoms) + "\n")
