"""Incremental updates: continue a fit from the previous potential on a replay buffer.

Each update starts from the parent's coefficients (pacemaker ``potential: parent.yaml``,
same basis, same reference energies), so a short BFGS run suffices. It does not see
the whole history: all new structures plus a seeded random sample of the older ones,
up to ``size`` structures, so the cost per update stays about constant while old
regions keep pulling on the coefficients (forgetting is measured by the caller).
The active set is rebuilt over the full history — that step is cheap (no TensorFlow)
and defines where γ is low.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from pyacemaker.ace.pacemaker import build_active_set, fit_ace
from pyacemaker.ace.schemas import AceFitSettings, AcePotentialDoc


def replay_buffer(
    history: Sequence[Atoms], new: Sequence[Atoms], size: int, seed: int
) -> list[Atoms]:
    """All of ``new`` plus a random sample of ``history``, at most ``size`` in total.

    New data are never dropped (they are why the update happens); if they alone exceed
    ``size`` the buffer is just them.
    """
    room = max(size - len(new), 0)
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(len(history), size=min(room, len(history)), replace=False))
    return [history[int(i)] for i in picked] + list(new)


def update_potential(
    parent: AcePotentialDoc,
    train: Sequence[Atoms],
    history: Sequence[Atoms],
    workdir: Path,
    settings: AceFitSettings,
) -> AcePotentialDoc:
    """Continue ``parent`` on ``train`` and give the result an active set over ``history``."""
    workdir = Path(workdir)
    doc = fit_ace(
        train,
        workdir / "fit",
        settings,
        reference_energy=parent.reference_energy,
        reference_source=parent.reference_energy_source,
        initial_potential=parent.yaml_path,
    )
    asi = build_active_set(doc, history, workdir / "active_set")
    return doc.model_copy(update={"asi_path": asi})


def replay_update(
    parent: AcePotentialDoc,
    history: Sequence[Atoms],
    new: Sequence[Atoms],
    workdir: Path,
    settings: AceFitSettings,
    *,
    size: int,
    seed: int,
    always: Callable[[Atoms], bool],
) -> AcePotentialDoc:
    """Continue ``parent`` on ``new`` plus a replay of ``history``.

    History structures for which ``always`` holds (the EOS and strain cells, which hold
    B0 and the elastic constants) are replayed in every update, the rest are sampled;
    the active set covers the whole history and the new data.
    """
    kept = [a for a in history if always(a)]
    rest = [a for a in history if not always(a)]
    train = replay_buffer(rest, [*kept, *new], size, seed)
    return update_potential(parent, train, [*history, *new], workdir, settings)
