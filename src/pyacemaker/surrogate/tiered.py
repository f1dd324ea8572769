"""Tiered oracle: the teacher committee labels what it agrees on, DFT the rest.

Same interface as :class:`~pyacemaker.oracle.CalculatorOracle` (``label(structures,
workdir) -> LabelResult``); the only visible difference is the provenance of each
label. Per structure, with σ the committee's largest per-atom force deviation (eV/Å):

* unphysical (atoms too close, or the teacher predicts forces above ``max_force``):
  rejected, with the reason, before any calculation;
* σ > ``threshold_call_dft`` (when set and a DFT oracle is given): labelled by DFT —
  at most ``max_dft_calls`` of them, the least certain first; the others above the
  threshold are treated as "in between" (the cap keeps a bad teacher from turning the
  pool into a DFT bill);
* σ < ``uncertainty_threshold``: the teacher's label is accepted;
* in between: the teacher's label is kept but every atom whose deviation exceeds
  ``uncertainty_threshold`` gets ``arrays["force_weight"] = uncertain_weight``, so the
  fit trusts the uncertain forces less (energies keep their weight).

Every structure records ``info["route"]`` and ``info["committee_deviation"]``; labels
carry ``info["label_source"]`` of the engine that made them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from ase import Atoms

from pyacemaker.oracle import CalculatorOracle, FailedCalculation, LabelResult
from pyacemaker.selection.screen import REJECT_KEY, unphysical_reason
from pyacemaker.surrogate.committee import Committee, Prediction

Route = Literal["teacher", "uncertain", "dft", "rejected"]
ROUTE_KEY = "route"
DEVIATION_KEY = "committee_deviation"
FORCE_WEIGHT_KEY = "force_weight"


@dataclass
class Routing:
    """Route of each input structure, in input order, and the rejection reasons."""

    routes: list[Route] = field(default_factory=list)
    rejected: dict[int, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """How many structures took each route."""
        return {r: self.routes.count(r) for r in ("teacher", "uncertain", "dft", "rejected")}


@dataclass
class TieredOracle:
    """Teacher first, DFT where the committee disagrees too much (see the module doc)."""

    teacher: CalculatorOracle
    committee: Committee
    dft: CalculatorOracle | None = None
    uncertainty_threshold: float = 0.15
    threshold_call_dft: float | None = None
    uncertain_weight: float = 0.3
    max_force: float = 20.0
    min_distance_factor: float = 0.6
    max_dft_calls: int | None = None
    routing: Routing = field(default_factory=Routing)
    _weights: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def source(self) -> str:
        """Provenance summary of this oracle (each label has its own engine's)."""
        dft = self.dft.source if self.dft is not None else "none"
        return f"tiered(teacher={self.teacher.source}, dft={dft})"

    def _predict(self, atoms: Atoms) -> Prediction | str:
        """The committee's prediction, or why the structure must not be labelled at all."""
        why = unphysical_reason(atoms, self.min_distance_factor)
        if why is not None:
            return why
        pred = self.committee.predict(atoms)
        if not np.all(np.isfinite(pred.forces)) or np.abs(pred.forces[0]).max() > self.max_force:
            return f"teacher predicts forces above {self.max_force} eV/Å"
        return pred

    def route(self, atoms: Atoms) -> Route:
        """Decide one structure's route; records deviation (and rejection reason) in info."""
        pred = self._predict(atoms)
        if isinstance(pred, str):
            atoms.info[REJECT_KEY] = pred
            return "rejected"
        sigma = pred.atom_deviation
        atoms.info[DEVIATION_KEY] = float(sigma.max())
        weights = np.where(sigma > self.uncertainty_threshold, self.uncertain_weight, 1.0)
        call_dft = self.threshold_call_dft if self.dft is not None else None
        if call_dft is not None and sigma.max() > call_dft:
            self._weights[id(atoms)] = weights  # used if the cap sends it back to the teacher
            return "dft"
        if sigma.max() < self.uncertainty_threshold:
            return "teacher"
        atoms.arrays[FORCE_WEIGHT_KEY] = weights
        return "uncertain"

    def _cap(self, work: list[Atoms]) -> None:
        """Keep the ``max_dft_calls`` least certain DFT routes; the rest become uncertain."""
        routes = self.routing.routes
        to_dft = [i for i, r in enumerate(routes) if r == "dft"]
        if self.max_dft_calls is None or len(to_dft) <= self.max_dft_calls:
            return
        to_dft.sort(key=lambda i: -float(work[i].info[DEVIATION_KEY]))
        for i in to_dft[self.max_dft_calls :]:
            routes[i] = "uncertain"
            work[i].arrays[FORCE_WEIGHT_KEY] = self._weights[id(work[i])]

    def label(self, structures: Sequence[Atoms], workdir: Path) -> LabelResult:
        """Route, then label each group with its engine; results in input order."""
        work = [a.copy() for a in structures]
        self.routing = Routing(routes=[self.route(a) for a in work])
        self._cap(work)
        self._weights.clear()
        self.routing.rejected = {
            i: str(a.info[REJECT_KEY])
            for i, a in enumerate(work)
            if self.routing.routes[i] == "rejected"
        }
        result = LabelResult()
        for engine, wanted in ((self.teacher, ("teacher", "uncertain")), (self.dft, ("dft",))):
            idx = [i for i, r in enumerate(self.routing.routes) if r in wanted]
            if engine is None or not idx:
                continue
            part = engine.label([work[i] for i in idx], Path(workdir) / wanted[0])
            done = set(range(len(idx))) - {f.index for f in part.failed}
            result.labelled += part.labelled
            result.failed += [
                FailedCalculation(idx[f.index], f.structure, f.error) for f in part.failed
            ]
            result.wall_time += part.wall_time
            result.records += [r.model_copy(update={"index": idx[r.index]}) for r in part.records]
            for k, atoms in zip(sorted(done), part.labelled, strict=True):
                atoms.info["input_index"] = idx[k]
                atoms.info[ROUTE_KEY] = self.routing.routes[idx[k]]
        result.labelled.sort(key=lambda a: int(a.info["input_index"]))
        return result
