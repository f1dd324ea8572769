"""Parity of a potential against labelled data, per subset (train, held-out, ...).

The summary numbers go into the validation document; the paired values behind the
parity plots go to one ``.npz`` per subset next to the report (jobs pass paths, not
large arrays).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.units import GPa
from pydantic import BaseModel

from pyacemaker.data import energy_of, forces_of, stress_of
from pyacemaker.validation.reference import Labeller


class ParityResult(BaseModel):
    """RMSE/MAE of energy (meV/atom), force components (eV/Å), stress (GPa, if labelled)."""

    n_structures: int
    energy_rmse_mev: float
    energy_mae_mev: float
    force_rmse: float
    force_mae: float
    stress_rmse_gpa: float | None = None
    data_file: str | None = None


def _rmse(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def _stress_pairs(ref: Sequence[Atoms], pred: Sequence[Atoms]) -> tuple[np.ndarray, np.ndarray]:
    """Stress of the structures labelled with one on both sides (GPa)."""
    pairs = [(stress_of(r), stress_of(p)) for r, p in zip(ref, pred, strict=True)]
    kept = [(r, p) for r, p in pairs if r is not None and p is not None]
    if not kept:
        return np.zeros(0), np.zeros(0)
    return np.ravel([r for r, _ in kept]) / GPa, np.ravel([p for _, p in kept]) / GPa


def parity(
    structures: Sequence[Atoms], potential: Labeller, subset: str, data_dir: str | Path | None
) -> ParityResult:
    """Evaluate ``potential`` on labelled ``structures``; optionally save the pairs."""
    predicted = potential.label(structures, f"parity_{subset}")
    e_ref = np.array([energy_of(a) / len(a) for a in structures])
    e_pred = np.array([energy_of(a) / len(a) for a in predicted])
    f_ref = np.concatenate([forces_of(a).ravel() for a in structures])
    f_pred = np.concatenate([forces_of(a).ravel() for a in predicted])
    s_ref, s_pred = _stress_pairs(structures, predicted)
    data_file = None
    if data_dir is not None:
        path = Path(data_dir) / f"parity_{subset}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, e_ref=e_ref, e_pred=e_pred, f_ref=f_ref, f_pred=f_pred,
                 s_ref=s_ref, s_pred=s_pred)  # fmt: skip
        data_file = str(path)
    return ParityResult(
        n_structures=len(structures),
        energy_rmse_mev=1000 * _rmse(e_pred - e_ref),
        energy_mae_mev=1000 * float(np.mean(np.abs(e_pred - e_ref))),
        force_rmse=_rmse(f_pred - f_ref),
        force_mae=float(np.mean(np.abs(f_pred - f_ref))),
        stress_rmse_gpa=_rmse(s_pred - s_ref) if s_ref.size else None,
        data_file=data_file,
    )
