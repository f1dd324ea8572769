"""Which potential a run delivers, and the DFT labels the after-exploration refit learns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk

from pyacemaker.config.schema import ValidationConfig
from pyacemaker.data import SOURCE_KEY, attach_labels, read_dataset, write_dataset
from pyacemaker.dft.jobs import OracleLabelsMaker
from pyacemaker.embedding.cutout import ENERGY_WEIGHT_KEY
from pyacemaker.validation.delivery import DIRECT, REFIT, TEACHER_ROUTE, choose
from pyacemaker.validation.metrics import ErrorMetrics


def _errors(energy: float, force: float) -> ErrorMetrics:
    return ErrorMetrics(energy_rmse_mev=energy, force_rmse=force, n=4)


def test_the_best_of_three_candidates_is_delivered_and_the_reason_names_all() -> None:
    thresholds = ValidationConfig()
    errors = {
        TEACHER_ROUTE: _errors(3.0, 0.05),
        DIRECT: _errors(2.9, 0.063),
        REFIT: _errors(1.6, 0.029),
        "teacher": _errors(0.1, 0.001),  # not a candidate: the teacher is not an ACE
    }
    delivery = choose(errors, thresholds)
    assert delivery.delivered == REFIT
    assert set(delivery.scores) == {TEACHER_ROUTE, DIRECT, REFIT}
    assert all(key in delivery.reason for key in delivery.scores)


def test_a_tie_goes_to_the_teacher_route() -> None:
    same = _errors(2.0, 0.04)
    delivery = choose({DIRECT: same, TEACHER_ROUTE: same}, ValidationConfig())
    assert delivery.delivered == TEACHER_ROUTE


def test_oracle_labels_are_gathered_from_a_history_with_their_weights(tmp_path: Path) -> None:
    def labelled(source: str, energy_weight: float | None = None) -> Atoms:
        atoms = bulk("Cu", "fcc", a=3.6)
        out = attach_labels(atoms, -3.5, np.zeros((1, 3)), None, source)
        if energy_weight is not None:
            out.info[ENERGY_WEIGHT_KEY] = energy_weight
        return out

    train = write_dataset(tmp_path / "train.xyz", [labelled("dft"), labelled("dft")])
    history = write_dataset(
        tmp_path / "history.xyz",
        [labelled("dft"), labelled("mace:teacher"), labelled("dft"), labelled("dft", 0.0)],
    )
    maker = OracleLabelsMaker()
    path = maker.make.original(maker, str(train), str(history), str(tmp_path / "labels"))  # type: ignore[attr-defined]
    gathered = read_dataset(path)
    assert [a.info[SOURCE_KEY] for a in gathered] == ["dft"] * 3
    assert gathered[-1].info[ENERGY_WEIGHT_KEY] == 0.0  # a cut-out stays forces-only
