"""Checks that a pacemaker fit fitted, and that the written file is the fitted model.

A fit that does not fit is an error (docs/validation.md, "fit guard"): each check
raises :class:`AceFitError` with the reason in one line, which stops the stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyace import PyACECalculator

from pyacemaker.ace.schemas import AceFitSettings


class AceFitError(RuntimeError):
    """Pacemaker could not fit (or convert) a potential, or the fit did not fit."""


class FitErrors:
    """Per-structure errors of a written potential on a fit's dataframe (one evaluation)."""

    def __init__(self, frame: pd.DataFrame, energy: list[float], forces: list[Any]) -> None:
        self.energy = np.asarray(energy)  # eV/atom, one per structure
        self.forces = forces  # (n_atoms, 3) eV/Å per structure
        self.w_energy = frame["w_energy"].to_numpy(dtype=float)
        self.w_forces = list(frame["w_forces"])

    def rmse(self, weighted: bool) -> tuple[float, float]:
        """Energy (meV/atom) and force-component (eV/Å) RMSE.

        ``weighted``: over structures with energy weight > 0 and atoms with force weight
        > 0 (what the fit learned); otherwise over everything, as pacemaker reports it.
        """
        e = self.energy[self.w_energy > 0] if weighted else self.energy
        pairs = zip(self.forces, self.w_forces, strict=True)
        f = [err[w > 0] if weighted else err for err, w in pairs]
        flat = np.concatenate([x.ravel() for x in f]) if f else np.zeros(0)
        rmse_e = 1000.0 * float(np.sqrt(np.mean(np.square(e)))) if e.size else float("nan")
        return rmse_e, float(np.sqrt(np.mean(np.square(flat)))) if flat.size else float("nan")


def errors_of(frame: pd.DataFrame, yace_path: Path) -> FitErrors:
    """Errors of the ``.yace`` (total energies) on every structure of ``frame``.

    Evaluated here rather than by pacemaker's own prediction step, which re-traces
    TensorFlow and plots figures (about 15 s per fit).
    """
    calc = PyACECalculator(str(yace_path))
    energy, forces = [], []
    for row in frame.itertuples():
        atoms = row.ase_atoms.copy()
        atoms.calc = calc
        energy.append((atoms.get_potential_energy() - row.energy) / len(atoms))
        forces.append(atoms.get_forces() - row.forces)
    return FitErrors(frame, energy, forces)


def _reported_rmse(metrics_path: Path) -> tuple[float, float]:
    """Pacemaker's last reported energy (meV/atom) and force (eV/Å) RMSE over all structures."""
    header, *rows = [line.split() for line in metrics_path.read_text().splitlines() if line]
    last = rows[-1]
    return 1000.0 * float(last[header.index("rmse_epa")]), float(last[header.index("rmse_f_comp")])


# The written file and pacemaker's optimiser see the same model up to float noise; the
# slack only absorbs pacemaker printing the last iteration while saving the best one.
WRITTEN_RTOL = 0.05
WRITTEN_ATOL_MEV, WRITTEN_ATOL_FORCE = 0.5, 0.005


def check_written_matches_fit(errors: FitErrors, metrics_path: Path) -> None:
    """Fail if the written ``.yace`` is not the model pacemaker says it fitted."""
    (ours_e, ours_f), (fit_e, fit_f) = errors.rmse(weighted=False), _reported_rmse(metrics_path)
    off_e = abs(ours_e - fit_e) > WRITTEN_ATOL_MEV + WRITTEN_RTOL * fit_e
    off_f = abs(ours_f - fit_f) > WRITTEN_ATOL_FORCE + WRITTEN_RTOL * fit_f
    if off_e or off_f:
        raise AceFitError(
            f"the written potential is not the fitted one: pacemaker reports {fit_e:.2f} "
            f"meV/atom, {fit_f:.4f} eV/Å on its training data, the .yace gives {ours_e:.2f} "
            f"meV/atom, {ours_f:.4f} eV/Å ({metrics_path.parent})"
        )


# Below these spreads the labels carry no signal to judge a fit by (e.g. one cell).
SPREAD_FLOOR_MEV, SPREAD_FLOOR_FORCE = 1.0, 0.01


def _label_spread(frame: pd.DataFrame) -> tuple[float, float]:
    """What predicting nothing costs: std of energy per atom (meV), RMS force (eV/Å).

    Over the weighted structures and atoms, like the training RMSE it is compared with.
    """
    per_atom = (frame["energy_corrected"] / frame["ase_atoms"].map(len))[frame["w_energy"] > 0]
    pairs = zip(frame["forces"], frame["w_forces"], strict=True)
    forces = [np.asarray(f)[np.asarray(w) > 0] for f, w in pairs]
    flat = np.concatenate([f.ravel() for f in forces]) if forces else np.zeros(0)
    spread_e = 1000.0 * float(np.std(per_atom)) if len(per_atom) else 0.0
    return spread_e, float(np.sqrt(np.mean(np.square(flat)))) if flat.size else 0.0


def check_fitted(
    frame: pd.DataFrame,
    rmse: tuple[float, float],
    losses: tuple[float, float],
    settings: AceFitSettings,
    workdir: Path,
) -> None:
    """A fit that does not fit is an error: loss up, or RMSE near the labels' own spread."""
    initial, final = losses
    if not final <= initial:
        raise AceFitError(f"the fit made the loss worse: {initial:.4g} -> {final:.4g} ({workdir})")
    (spread_e, spread_f), k = _label_spread(frame), settings.max_rmse_fraction
    for what, err, spread, floor, unit in (
        ("energy", rmse[0], spread_e, SPREAD_FLOOR_MEV, "meV/atom"),
        ("force", rmse[1], spread_f, SPREAD_FLOOR_FORCE, "eV/Å"),
    ):
        if spread > floor and not err <= k * spread:
            raise AceFitError(
                f"the fit did not fit: training {what} RMSE {err:.4g} {unit} is above "
                f"{k:g} x the labels' spread {spread:.4g} {unit} (ace.max_iter too small, "
                f"or inconsistent labels?) ({workdir})"
            )
