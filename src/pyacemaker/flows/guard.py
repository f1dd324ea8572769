"""The exploration guard: an update is accepted only if it keeps the physics it had.

Judging forces on the held-out cells alone let a documented run accept an update that
moved B0 from 78 to 133 GPa: forces near equilibrium say little about the energy–volume
curve. The guard set therefore holds the held-out cells, the DFT EOS cells and the DFT
strain cells of the training data (earlier cut-outs are judged by the forgetting check
on the previous-test set), and energies, forces and stresses on it must each stay
within ``(1 + max_forgetting)`` of the parent's error plus a small absolute slack (so
that a parent that is nearly exact there is not held to round-off). The EOS cells are
guarded but never trained on: the validation's EOS check must stay independent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from pydantic import BaseModel

from pyacemaker.ace.pacemaker import ace_calculator, weighted_errors
from pyacemaker.ace.schemas import AcePotentialDoc
from pyacemaker.data import CONFIG_TYPE_KEY, stress_of

STRAIN_TYPES = ("strain", "eos")
# Absolute slack per quantity: about the noise of a continued fit on unchanged data.
SLACK = {"energy_rmse_mev": 1.0, "force_rmse": 0.01, "stress_rmse_gpa": 0.2}
EV_PER_A3_TO_GPA = 160.21766


class GuardErrors(BaseModel):
    """Energy (meV/atom), force (eV/Å) and stress (GPa, cells with a stress label) RMSE."""

    energy_rmse_mev: float
    force_rmse: float
    stress_rmse_gpa: float | None
    n: int


def is_strain_cell(atoms: Atoms) -> bool:
    """A volumetric or shear strain cell (kept in every replay buffer, part of the guard)."""
    return str(atoms.info.get(CONFIG_TYPE_KEY, "")) in STRAIN_TYPES


def guard_errors(potential: AcePotentialDoc, structures: Sequence[Atoms]) -> GuardErrors | None:
    """Errors of ``potential`` on the guard set; None for an empty set."""
    if not structures:
        return None
    energy, force = weighted_errors(potential, structures)
    calc, diffs = ace_calculator(potential), []
    for atoms in structures:
        label = stress_of(atoms)
        if label is None:
            continue
        work = atoms.copy()
        work.calc = calc
        diffs.append(np.asarray(work.get_stress(voigt=True)) - np.asarray(label))
    stress = (
        EV_PER_A3_TO_GPA * float(np.sqrt(np.mean(np.square(diffs)))) if diffs else None
    )
    return GuardErrors(
        energy_rmse_mev=energy, force_rmse=force, stress_rmse_gpa=stress, n=len(structures)
    )


def guard_violations(
    before: GuardErrors | None, after: GuardErrors | None, max_forgetting: float
) -> list[str]:
    """What the update made worse than allowed (empty: it passes the guard)."""
    if before is None or after is None:
        return []
    out = []
    for key, slack in SLACK.items():
        old, new = getattr(before, key), getattr(after, key)
        if old is None or new is None:
            continue
        bound = (1.0 + max_forgetting) * old + slack
        if not new <= bound:
            out.append(f"{key} {old:.4g} -> {new:.4g} (bound {bound:.4g})")
    return out
