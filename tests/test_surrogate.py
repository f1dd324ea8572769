"""MACE engine wrapper against real mace-torch: train, load, label, fine-tune, resolve.

One tiny model (8 channels, scalars only) is trained once per module on 12 EMT-labelled
2-4 atom Cu cells; everything else reuses it. Timings on 2 shared CPU cores: training
~20-40 s, each fine-tune ~15-25 s.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from pyacemaker.data import ENERGY_KEY, SOURCE_KEY, energy_of, forces_of
from pyacemaker.oracle import ase_calculator_oracle
from pyacemaker.surrogate.mace import (
    FoundationModelError,
    MaceTrainError,
    MaceTrainSettings,
    TeacherDoc,
    _mace_mp_cache_path,
    mace_calculator,
    resolve_foundation,
    resolve_foundation_choice,
    teacher_oracle,
    train_mace,
)

TINY = MaceTrainSettings(num_channels=8, max_L=0, batch_size=2, max_num_epochs=40, seed=1)
FINETUNE = TINY.model_copy(update={"max_num_epochs": 4, "seed": 5})
# Loose bounds for the tiny model on its own training data (measured: 4.7 meV/atom RMSE,
# 13 meV/atom worst; EMT energies spread with a std of 19 meV/atom).
TRAIN_E_RMSE_MEV = 10.0
TRAIN_E_MAX_MEV = 30.0
TRAIN_F_RMSE = 0.1  # eV/Å


def cu_cells(n: int = 12, seed: int = 7) -> list[Atoms]:
    """Small strained and rattled Cu cells of 2, 3 and 4 atoms, fixed by the seed."""
    rng = np.random.default_rng(seed)
    cells = []
    for i in range(n):
        kind = i % 3
        if kind == 2:
            atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
        else:
            atoms = bulk("Cu", "fcc", a=3.61) * (kind + 2, 1, 1)
        strain = np.eye(3) + rng.uniform(-0.04, 0.04, (3, 3))
        atoms.set_cell(atoms.cell.array @ ((strain + strain.T) / 2), scale_atoms=True)
        atoms.positions += rng.normal(0.0, 0.06, atoms.positions.shape)
        cells.append(atoms)
    return cells


def predict(model: Path, structures: list[Atoms]) -> tuple[np.ndarray, list[np.ndarray]]:
    calc = mace_calculator(model)
    energies, forces = [], []
    for atoms in structures:
        work = atoms.copy()
        work.calc = calc
        energies.append(work.get_potential_energy())
        forces.append(work.get_forces())
    return np.array(energies), forces


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> list[Atoms]:
    oracle = ase_calculator_oracle("ase.calculators.emt.EMT")
    result = oracle.label(cu_cells(), tmp_path_factory.mktemp("emt"))
    assert not result.failed
    return result.labelled


@pytest.fixture(scope="module")
def teacher(labelled: list[Atoms], tmp_path_factory: pytest.TempPathFactory) -> TeacherDoc:
    return train_mace(labelled, tmp_path_factory.mktemp("teacher"), TINY)


@pytest.fixture(scope="module")
def finetuned(
    teacher: TeacherDoc, labelled: list[Atoms], tmp_path_factory: pytest.TempPathFactory
) -> TeacherDoc:
    choice = resolve_foundation_choice(str(teacher.model_path))
    return train_mace(labelled, tmp_path_factory.mktemp("ft"), FINETUNE, foundation=choice)


def test_teacher_doc_records_the_run(teacher: TeacherDoc, labelled: list[Atoms]) -> None:
    assert teacher.model_path.is_file() and teacher.model_path.name == "teacher.model"
    assert teacher.foundation is None and teacher.foundation_resolution.how == "none"
    assert (teacher.n_train, teacher.n_valid) == (11, 1)
    assert teacher.elements == ["Cu"] and teacher.seed == 1 and teacher.settings == TINY
    assert 0 <= teacher.valid_rmse_energy_mev_per_atom < TRAIN_E_MAX_MEV
    assert 0 <= teacher.valid_rmse_forces_ev_per_ang < 3 * TRAIN_F_RMSE
    assert teacher.wall_time_s > 0 and "Epoch" in teacher.log_path.read_text()
    assert TeacherDoc.model_validate_json(teacher.model_dump_json()) == teacher


def test_teacher_reproduces_emt_on_training_data(
    teacher: TeacherDoc, labelled: list[Atoms]
) -> None:
    energies, forces = predict(teacher.model_path, labelled)
    ref = np.array([energy_of(a) for a in labelled])
    natoms = np.array([len(a) for a in labelled])
    err_mev = 1000 * (energies - ref) / natoms
    assert np.sqrt(np.mean(err_mev**2)) < TRAIN_E_RMSE_MEV
    assert np.max(np.abs(err_mev)) < TRAIN_E_MAX_MEV
    # and far better than predicting the mean energy (whose RMSE is the std, 19 meV/atom)
    assert np.sqrt(np.mean(err_mev**2)) < 0.5 * np.std(1000 * ref / natoms)
    f_err = np.concatenate(
        [(f - forces_of(a)).ravel() for f, a in zip(forces, labelled, strict=True)]
    )
    assert np.sqrt(np.mean(f_err**2)) < TRAIN_F_RMSE


def test_teacher_oracle_labels_with_the_model(teacher: TeacherDoc, tmp_path: Path) -> None:
    fresh = cu_cells(n=3, seed=99)
    result = teacher_oracle(teacher).label(fresh, tmp_path)
    assert not result.failed and len(result.labelled) == 3
    energies, _ = predict(teacher.model_path, fresh)
    for atoms, energy in zip(result.labelled, energies, strict=True):
        assert atoms.info[SOURCE_KEY] == f"mace:{teacher.model_path}"
        assert str(teacher.model_path) in atoms.info[SOURCE_KEY]
        assert atoms.info[ENERGY_KEY] == pytest.approx(energy, abs=1e-9)
        assert atoms.info["REF_stress"].shape == (6,)


def test_finetune_from_local_foundation(
    finetuned: TeacherDoc, teacher: TeacherDoc, labelled: list[Atoms]
) -> None:
    assert finetuned.foundation == teacher.model_path
    assert finetuned.foundation_resolution.how == "local_file"
    log = finetuned.log_path.read_text()
    assert f"--foundation_model={teacher.model_path}" in log
    assert f"Using foundation model {teacher.model_path} as initial checkpoint" in log
    energies, _ = predict(finetuned.model_path, labelled)
    ref = np.array([energy_of(a) / len(a) for a in labelled])
    per_atom = energies / np.array([len(a) for a in labelled])
    assert np.sqrt(np.mean((per_atom - ref) ** 2)) < TRAIN_E_MAX_MEV / 1000


def test_training_is_deterministic_under_the_seed(
    finetuned: TeacherDoc, labelled: list[Atoms], tmp_path: Path
) -> None:
    again = train_mace(labelled, tmp_path, FINETUNE, foundation=finetuned.foundation_resolution)
    probe = cu_cells(n=3, seed=11)
    first, _ = predict(finetuned.model_path, probe)
    second, _ = predict(again.model_path, probe)
    np.testing.assert_array_equal(first, second)


def test_mace_failure_raises_with_log_tail(labelled: list[Atoms], tmp_path: Path) -> None:
    bad = TINY.model_copy(update={"e0s": "not-a-valid-e0s-spec"})
    with pytest.raises(MaceTrainError, match="exited with status") as info:
        train_mace(labelled, tmp_path, bad)
    assert "mace_train.log" in str(info.value) and len(str(info.value).splitlines()) > 3


def test_unlabelled_training_data_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="REF_energy"):
        train_mace(cu_cells(n=3), tmp_path, TINY)


def test_empty_validation_set_is_refused(labelled: list[Atoms], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="valid is empty"):
        train_mace(labelled, tmp_path, TINY, valid=[])


def test_valid_fraction_zero_trains_on_every_cell(labelled: list[Atoms]) -> None:
    """A tiny set keeps every (unique) cell for training; the training set validates."""
    from pyacemaker.surrogate.mace import _split

    train, valid = _split(labelled, None, TINY.model_copy(update={"valid_fraction": 0.0}))
    assert train == list(labelled) and valid == list(labelled)
    held_out_train, held_out = _split(labelled, None, TINY)  # the default holds 10 % out
    assert len(held_out) == 1 and len(held_out_train) == len(labelled) - 1


def test_for_dataset_scales_batch_and_epochs() -> None:
    small = MaceTrainSettings.for_dataset(12)
    assert (small.batch_size, small.max_num_epochs) == (2, 167)
    mid = MaceTrainSettings.for_dataset(36)
    assert (mid.batch_size, mid.max_num_epochs) == (4, 112)
    big = MaceTrainSettings.for_dataset(5000)
    assert (big.batch_size, big.max_num_epochs) == (32, 30)
    given = MaceTrainSettings.for_dataset(36, max_num_epochs=7, num_channels=8, batch_size=None)
    assert (given.batch_size, given.max_num_epochs, given.num_channels) == (4, 7, 8)
    with pytest.raises(ValueError):
        MaceTrainSettings(unknown_field=1)  # type: ignore[call-arg]


def test_resolve_none_means_from_scratch() -> None:
    assert resolve_foundation("none") is None
    assert resolve_foundation(" None ") is None


def test_resolve_local_model_file(teacher: TeacherDoc) -> None:
    assert resolve_foundation(str(teacher.model_path)) == teacher.model_path


@pytest.mark.parametrize("spec", ["/no/such/dir/x.model", "mace-mp-0-huge", ""])
def test_unresolvable_foundation_says_field_and_fix(spec: str) -> None:
    with pytest.raises(FoundationModelError) as info:
        resolve_foundation(spec)
    message = str(info.value)
    assert "teacher.foundation" in message and repr(spec) in message
    assert "none" in message and ".model" in message


def test_non_model_files_are_refused(teacher: TeacherDoc) -> None:
    compiled = teacher.model_path.with_name("teacher_compiled.model")
    if compiled.is_file():  # mace-torch writes it unless compilation fails
        with pytest.raises(FoundationModelError, match="TorchScript"):
            resolve_foundation(str(compiled))
    with pytest.raises(FoundationModelError, match="does not load as a MACE model"):
        resolve_foundation(str(teacher.log_path))


def test_cached_mace_mp_file_is_used_without_download(
    teacher: TeacherDoc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tiny model stands in for a cached MACE-MP-0 small file."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cached = _mace_mp_cache_path("small")
    assert cached.parent == tmp_path / "mace"
    cached.parent.mkdir(parents=True)
    shutil.copy(teacher.model_path, cached)
    choice = resolve_foundation_choice("mace-mp-0-small")
    assert (choice.path, choice.how) == (cached, "cached")
    assert resolve_foundation("small") == cached


def _network_up() -> bool:
    try:
        socket.getaddrinfo("github.com", 443)
    except OSError:
        return False
    return True


def test_mace_mp_offline_raises_clear_error() -> None:
    if _mace_mp_cache_path("small").is_file():
        pytest.skip("MACE-MP-0 small is cached on this machine")
    if _network_up():
        pytest.skip("network available: the model would be downloaded, not refused")
    with pytest.raises(FoundationModelError) as info:
        resolve_foundation("small")
    message = str(info.value)
    assert "teacher.foundation = 'small'" in message
    assert "download" in message and "offline" in message
    assert "teacher.foundation: none" in message
