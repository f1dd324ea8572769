"""MACE committee uncertainty, the tiered oracle and the fine-tuning policy, on EMT copper.

One tiny committee (teacher + one bootstrap member, 8 channels, scalars only) is trained
once for the module on 12 EMT-labelled 2-4 atom Cu cells near equilibrium.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from pyacemaker.data import SOURCE_KEY, read_dataset, write_dataset
from pyacemaker.oracle import ase_calculator_oracle
from pyacemaker.surrogate.committee import (
    Committee,
    CommitteeDoc,
    bootstrap_split,
    force_deviation,
    train_committee,
)
from pyacemaker.surrogate.jobs import TeacherLabelMaker
from pyacemaker.surrogate.mace import (
    MaceTrainSettings,
    finetune_policy,
    resolve_foundation_choice,
    teacher_oracle,
    train_mace,
)
from pyacemaker.surrogate.tiered import TieredOracle

from .test_surrogate import cu_cells

TINY = MaceTrainSettings(num_channels=8, max_L=0, batch_size=2, max_num_epochs=30, seed=2)
EMT = "ase.calculators.emt.EMT"


@pytest.fixture(scope="module")
def committee(tmp_path_factory: pytest.TempPathFactory) -> tuple[CommitteeDoc, list[Atoms]]:
    root = tmp_path_factory.mktemp("committee")
    labelled = ase_calculator_oracle(EMT).label(cu_cells(), root / "emt").labelled
    teacher = train_mace(labelled, root / "teacher", TINY)
    return train_committee(
        teacher, labelled, root / "members", size=2, epochs_fraction=0.5
    ), labelled


def near_and_far(seed: int = 5) -> tuple[list[Atoms], list[Atoms]]:
    """Cells like the training data, and cells far from it (compressed 12 %, rattled 0.15 Å)."""
    near = cu_cells(n=6, seed=seed)
    rng = np.random.default_rng(seed)
    far = []
    for _ in range(6):
        atoms = bulk("Cu", "fcc", a=3.61 * 0.88, cubic=True)
        atoms.positions += rng.normal(0.0, 0.15, atoms.positions.shape)
        far.append(atoms)
    return near, far


def test_force_deviation_is_the_spread_between_members() -> None:
    forces = np.zeros((2, 3, 3))
    forces[1, 0] = [0.2, 0.0, 0.0]  # members disagree on atom 0 only
    assert force_deviation(forces) == pytest.approx([0.1, 0.0, 0.0])
    drawn, oob = bootstrap_split(20, 3)
    assert len(drawn) == 20 and set(oob).isdisjoint(drawn) and oob


def test_committee_records_members(committee: tuple[CommitteeDoc, list[Atoms]]) -> None:
    doc, _ = committee
    assert len(doc.members) == 2 and doc.bootstrap
    extra = doc.members[1]
    assert extra.settings.seed != doc.members[0].settings.seed
    assert extra.settings.max_num_epochs == 15
    assert extra.n_valid > 0  # validated on its out-of-bag structures
    assert doc.members[0].finetuning is not None and doc.members[0].finetuning.mode == "scratch"


def test_deviation_rises_far_from_training_data(
    committee: tuple[CommitteeDoc, list[Atoms]],
) -> None:
    members = Committee.load(committee[0])
    near, far = near_and_far()
    sigma_near = [members.predict(a).max_deviation for a in near]
    sigma_far = [members.predict(a).max_deviation for a in far]
    assert np.median(sigma_far) > 2 * np.median(sigma_near)


def test_tiered_oracle_routes_by_uncertainty(
    committee: tuple[CommitteeDoc, list[Atoms]], tmp_path: Path
) -> None:
    doc, _ = committee
    members = Committee.load(doc)
    near, far = near_and_far()
    sigma = sorted(members.predict(a).max_deviation for a in near + far)
    fused = bulk("Cu", "fcc", a=3.61) * (2, 1, 1)
    fused.positions[1] = fused.positions[0] + [0.5, 0.0, 0.0]
    oracle = TieredOracle(
        teacher=teacher_oracle(doc.members[0]),
        committee=members,
        dft=ase_calculator_oracle(EMT),
        uncertainty_threshold=sigma[3] + 1e-9,  # the 4 most certain: teacher
        threshold_call_dft=sigma[-4] - 1e-9,  # the 4 least certain: "DFT" (EMT)
    )
    result = oracle.label([*near, *far, fused], tmp_path)
    counts = oracle.routing.counts()
    assert counts == {"teacher": 4, "uncertain": 4, "dft": 4, "rejected": 1}
    assert "too close" in oracle.routing.rejected[12]
    assert len(result.labelled) == 12 and not result.failed
    for atoms in result.labelled:
        engine = atoms.info[SOURCE_KEY]
        assert engine.startswith("ase:" if atoms.info["route"] == "dft" else "mace:")
        if atoms.info["route"] == "uncertain":
            assert atoms.arrays["force_weight"].min() == pytest.approx(0.3)
    assert [a.info["input_index"] for a in result.labelled] == list(range(12))
    # a cap on DFT calls keeps the least certain; the others go back to the teacher, down-weighted
    oracle.max_dft_calls = 2
    capped = oracle.label([*near, *far, fused], tmp_path / "capped")
    assert oracle.routing.counts() == {"teacher": 4, "uncertain": 6, "dft": 2, "rejected": 1}
    on_dft = [a.info["committee_deviation"] for a in capped.labelled if a.info["route"] == "dft"]
    assert sorted(on_dft) == pytest.approx(sigma[-2:])
    assert all(a.arrays["force_weight"].min() == pytest.approx(0.3)
               for a in capped.labelled if a.info["route"] == "uncertain")  # fmt: skip


def test_label_maker_writes_routing_document(
    committee: tuple[CommitteeDoc, list[Atoms]], tmp_path: Path
) -> None:
    doc, _ = committee
    near, far = near_and_far(seed=8)
    path = write_dataset(tmp_path / "pool.xyz", near + far)
    maker = TeacherLabelMaker(uncertainty_threshold=1e-6)  # everything uncertain, no DFT
    out = maker.make.original(maker, doc.members[0], str(path), str(tmp_path / "pool"), doc)  # type: ignore[attr-defined]
    assert out.routes == {"teacher": 0, "uncertain": 12, "dft": 0, "rejected": 0}
    assert out.n_dft_calls == 0 and out.committee_size == 2
    assert len(read_dataset(out.dataset)) == 12


def test_finetune_policy_falls_back_with_reasons(
    committee: tuple[CommitteeDoc, list[Atoms]], tmp_path: Path
) -> None:
    model = committee[0].members[0].model_path
    local = resolve_foundation_choice(str(model))
    assert finetune_policy(resolve_foundation_choice("none")).mode == "scratch"
    assert finetune_policy(local).mode == "naive"
    one_element = finetune_policy(local, "multihead", tmp_path / "replay.xyz")
    assert one_element.mode == "naive" and "one-element" in one_element.reason
