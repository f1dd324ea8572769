"""Cells that fix a failed check: the validators' own kinds of cells, at other amplitudes.

Each missed target asks for the data that defines it: a failed EOS wants volumetric
strains across (and slightly beyond) the EOS range; failed elastic constants want the
strain states of the Voigt components that define them; failed phonons want
finite-displacement supercells and rattled supercells (autoplex's recipe); a held-out
miss wants more strained and rattled cells like the held-out set. The amplitudes are
deliberately different from those of the cells the checks are judged on (the quality
loop's fresh reference cells, ``fresh_config``) and of the run's EOS and held-out sets,
so a check is never re-judged on cells the fit has seen.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from pyacemaker.config.schema import ValidationConfig
from pyacemaker.data import CONFIG_TYPE_KEY
from pyacemaker.structures.generate import strain_rattle, volume_series
from pyacemaker.validation.elastic import elastic_columns, strain_tensor, strained
from pyacemaker.validation.phonons import displaced_supercells

TARGETED_KEY = "targeted"  # info key: which missed target a cell was made for
EOS_SPAN = 1.2  # targeted EOS volumes span 1.2 x eos_strain (the judge: 5/6 x)
ELASTIC_FACTORS = (2.0, 3.0)  # targeted strains: these x elastic_strain (judge: 1.5 x)
PHONON_FACTOR = 4.0  # targeted displacement: this x phonon_displacement (judge: 2 x)
RATTLE_SIGMA = 0.05  # Å, rattled supercells for phonons
FRESH_SEED = 7919  # offset of the fresh held-out cells' seed from the run's
# Round r of the loop scales the amplitudes by (1 + ROUND_STEP r) (EOS span: + ROUND_STEP r
# of eos_strain), so a round after a rejected update does not buy the same cells again.
ROUND_STEP = 0.1


def fresh_config(cfg: ValidationConfig) -> ValidationConfig:
    """The validation settings of the loop's judge: same checks, cells nobody fitted.

    EOS: ``eos_points - 1`` volumes in 5/6 of the range (none coincides with the run's
    EOS cells, which the guard uses); elastic: 1.5 x the strain; phonons: 2 x the
    displacement. The thresholds (the targets) are unchanged.
    """
    return cfg.model_copy(
        update={
            "eos_points": max(cfg.eos_points - 1, 5),
            "eos_strain": cfg.eos_strain * 5 / 6,
            "elastic_strain": cfg.elastic_strain * 1.5,
            "phonon_displacement": cfg.phonon_displacement * 2,
        }
    )


def _tag(cells: list[Atoms], target: str, config_type: str | None = None) -> list[Atoms]:
    for atoms in cells:
        atoms.info[TARGETED_KEY] = target
        if config_type is not None:
            atoms.info[CONFIG_TYPE_KEY] = config_type
    return cells


def eos_cells(prototype: Atoms, n: int, cfg: ValidationConfig, variant: int = 0) -> list[Atoms]:
    """``n`` isotropically scaled cells across 1.2 x the EOS range (replayed as strain).

    An even number of volumes, so the unstrained cell (one of the run's EOS cells, which
    are guarded, never trained on) is never among them.
    """
    span = (EOS_SPAN + ROUND_STEP * variant) * cfg.eos_strain
    series = volume_series(prototype, n + n % 2, span)
    return _tag(series[:n], "eos")


def elastic_cells(cell: Atoms, n: int, cfg: ValidationConfig, variant: int = 0) -> list[Atoms]:
    """Strain states of the defining Voigt components at ±2 and ±3 x elastic_strain."""
    scale = (1 + ROUND_STEP * variant) * cfg.elastic_strain
    amounts = [s * f * scale for f in ELASTIC_FACTORS for s in (1, -1)]
    cells = [strained(cell, strain_tensor(j, a)) for a in amounts for j in elastic_columns(cell)]
    return _tag(cells[:n], "elastic", "strain")


def phonon_cells(
    cell: Atoms, n: int, cfg: ValidationConfig, seed: int, variant: int = 0
) -> list[Atoms]:
    """Finite-displacement supercells at 4 x the displacement, then rattled supercells."""
    distance = PHONON_FACTOR * (1 + ROUND_STEP * variant) * cfg.phonon_displacement
    _, displaced = displaced_supercells(cell, cfg.phonon_min_length, distance)
    rng = np.random.default_rng(seed)
    cells = displaced[:n]
    while len(cells) < n:
        rattled = displaced[0].copy()
        rattled.positions += rng.normal(0.0, RATTLE_SIGMA, size=rattled.positions.shape)
        cells.append(rattled)
    return _tag(cells, "phonons", "phonon")


def held_out_cells(
    prototype: Atoms, n: int, max_strain: float, rattle: float, min_atoms: int, seed: int
) -> list[Atoms]:
    """Strained and rattled cells like the held-out set (another seed)."""
    cells = strain_rattle(
        prototype, n, max_strain=max_strain, rattle=rattle, min_atoms=min_atoms, seed=seed
    )
    return _tag(cells, "held-out")
