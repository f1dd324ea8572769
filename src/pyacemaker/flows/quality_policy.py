"""The quality loop's policy: which data a miss brings, what each update replays, when to stop.

Separate from the loop's job (flows/quality.py) the way atomate2 keeps sets apart from
their jobs: these are the choices a reader tunes, free of jobflow and of the engines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ase import Atoms

from pyacemaker.ace.schemas import AcePotentialDoc
from pyacemaker.config.targets import QualityPlan
from pyacemaker.data import SOURCE_KEY, write_dataset
from pyacemaker.flows.guard import is_strain_cell
from pyacemaker.flows.quality_schemas import RoundRecord
from pyacemaker.validation.targeted import TARGETED_KEY

# Missed targets -> the family of data that fixes them (both held-out targets: one family).
FAMILY = {"held-out energy": "held-out", "held-out force": "held-out", "eos": "eos",
          "elastic": "elastic", "phonons": "phonons", "md": "md"}  # fmt: skip


def shares(families: Sequence[str], n: int) -> dict[str, int]:
    """``n`` cells split over the families as evenly as possible (first ones get the rest)."""
    if not families:
        return {}
    base, rest = divmod(n, len(families))
    out = {f: base + (i < rest) for i, f in enumerate(families)}
    return {f: k for f, k in out.items() if k > 0}


def stop_reason(plan: QualityPlan, missed: Sequence[str], n_dft: int, rnd: int) -> str | None:
    """Why the loop ends after judging round ``rnd``, or None to add data and go on."""
    if not missed:
        return "all targets hold"
    if n_dft >= plan.max_dft_calls:
        return f"DFT budget spent ({n_dft} of {plan.max_dft_calls} calls)"
    if rnd >= plan.max_rounds:
        return f"max rounds ({plan.max_rounds}) done"
    return None


def always_replayed(guarded: Sequence[Atoms]) -> Callable[[Atoms], bool]:
    """Which history cells every update replays: strain cells and the oracle's labels.

    The oracle's labels are those from the engines that labelled the guard set (held-out,
    EOS and DFT training cells); teacher-labelled pool frames are sampled instead.
    """
    sources = {a.info[SOURCE_KEY] for a in guarded if SOURCE_KEY in a.info}

    def always(atoms: Atoms) -> bool:
        return is_strain_cell(atoms) or atoms.info.get(SOURCE_KEY) in sources

    return always


def without_one_family(
    fit: Callable[[list[Atoms], Path], AcePotentialDoc | None],
    new: list[Atoms],
    record: RoundRecord,
    here: Path,
) -> AcePotentialDoc | None:
    """The update without one targeted family (the first, by name, that passes the guard).

    The left-out family's labels go to ``left_out.xyz`` and not into the history, so
    later rounds do not replay what the basis could not take.
    """
    families = sorted({str(a.info[TARGETED_KEY]) for a in new})
    for family in families if len(families) > 1 else []:
        child = fit([a for a in new if a.info[TARGETED_KEY] != family],
                    here / f"update_without_{family}")  # fmt: skip
        if child is not None:
            record.left_out = [family]
            write_dataset(here / "left_out.xyz", [a for a in new if a.info[TARGETED_KEY] == family])
            return child
    return None
