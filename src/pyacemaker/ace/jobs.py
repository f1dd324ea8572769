"""Makers for the distilled ACE potential: base fit, delta fit, active set.

Policy lives here, not in the pacemaker wrapper: which data a fit sees, with what
weight, and which reference energies all fits share (fixed once, by the isolated
atoms of :class:`~pyacemaker.dft.jobs.IsolatedAtomMaker`, so that continued fits keep
one energy zero).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ase import Atoms
from jobflow import Maker, job

from pyacemaker.ace.pacemaker import AceFitError, build_active_set, fit_ace
from pyacemaker.ace.schemas import AceFitSettings, AcePotentialDoc
from pyacemaker.data import read_dataset
from pyacemaker.dft.reference import ReferenceEnergyDoc, least_squares_references
from pyacemaker.progress import stage

logger = logging.getLogger(__name__)
UNDERDETERMINED = "Insufficient atomic environments"  # pace_activeset's message


def weighted(datasets: Sequence[str], weights: Sequence[float]) -> list[Atoms]:
    """All structures of the datasets, each tagged with its dataset's fit weight."""
    out = []
    for path, weight in zip(datasets, weights, strict=True):
        for atoms in read_dataset(path):
            atoms.info["weight"] = float(weight)
            out.append(atoms)
    return out


@dataclass
class AceFitMaker(Maker):
    """Fit ACE to weighted datasets; continue from ``initial`` when given (delta fit).

    A fresh fit takes its reference energies from ``reference``: the isolated-atom
    energies (a :class:`ReferenceEnergyDoc`) or, given a dataset path, the least-squares
    zero over it; a continued fit inherits them from the potential it starts from.
    """

    name: str = "ace_fit"
    settings: AceFitSettings = field(default_factory=AceFitSettings)

    @job
    def make(
        self,
        datasets: list[str],
        weights: list[float],
        workdir: str,
        reference: str | ReferenceEnergyDoc | None = None,
        initial: AcePotentialDoc | None = None,
    ) -> AcePotentialDoc:
        """Run pacemaker in ``workdir`` and return the potential's record."""
        structures = weighted(datasets, weights)
        if initial is not None:
            ref, source = initial.reference_energy, initial.reference_energy_source
        elif isinstance(reference, ReferenceEnergyDoc):
            ref, source = reference.energies, reference.energy_source
        elif reference is not None:
            ref, source = least_squares_references(read_dataset(reference)), "least_squares"
        else:
            raise ValueError("a fresh ACE fit needs reference energies for its energy zero")
        what = "continued from " + initial.yaml_path.name if initial else "fresh basis"
        with stage(self.name, f"{len(structures)} structures, {what}"):
            return fit_ace(
                structures,
                Path(workdir),
                self.settings,
                reference_energy=ref,
                reference_source=source,
                initial_potential=initial.yaml_path if initial else None,
            )


@dataclass
class ActiveSetMaker(Maker):
    """Build the D-optimal active set (``.asi``) that defines the extrapolation grade γ."""

    name: str = "active_set"

    @job
    def make(
        self,
        potential: AcePotentialDoc,
        datasets: list[str],
        workdir: str,
        fallback: list[str | None] | None = None,
    ) -> AcePotentialDoc:
        """Return the potential's record with ``asi_path`` set.

        A few small cells can hold fewer atoms than the basis has functions, and then
        pacemaker cannot determine an active set; with ``fallback`` the set is then built
        over ``datasets`` plus those (e.g. the direct fit: its DFT cells plus the pool,
        so γ measures novelty against environments the fit did not all learn). A fallback
        that is None (its stage failed) is skipped; with none left the potential is returned
        without an active set, so that a run whose teacher route failed still delivers.
        """
        structures = [a for path in datasets for a in read_dataset(path)]
        with stage(self.name, f"over {len(structures)} structures"):
            try:
                asi = build_active_set(potential, structures, Path(workdir))
            except AceFitError as exc:
                if not fallback or UNDERDETERMINED not in str(exc):
                    raise
                extra = [a for path in fallback if path for a in read_dataset(path)]
                if not extra:  # the fallback's stage failed: deliver, without γ
                    logger.warning("active set under-determined on %d structures, no "
                                   "fallback: no active set (no γ)", len(structures))  # fmt: skip
                    return potential
                logger.warning("active set under-determined on %d structures: built over %d",
                               len(structures), len(structures) + len(extra))  # fmt: skip
                asi = build_active_set(potential, structures + extra, Path(workdir))
        return potential.model_copy(update={"asi_path": asi})
