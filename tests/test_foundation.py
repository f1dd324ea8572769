"""The offline foundation model (CHGNet, weights inside its wheel) on the pipeline's paths.

Everything runs the real CHGNet: the zero-shot screen, melt-quench and normal-mode
sampling before any DFT, the synthetic pre-training of the MACE teacher followed by
fine-tuning, and the refusal of a foundation that cannot be loaded before any DFT.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from jobflow import run_locally

from pyacemaker.cli import main
from pyacemaker.config.schema import SamplingConfig, StructureConfig
from pyacemaker.data import ENERGY_KEY, energy_of, forces_of, read_dataset, write_dataset
from pyacemaker.oracle import ase_calculator_oracle
from pyacemaker.selection.jobs import DiversitySelectMaker, SelectionDoc
from pyacemaker.structures.generators import min_distance_ratio, normal_mode_cells
from pyacemaker.structures.policy import MixSettings, generate_mix
from pyacemaker.surrogate.foundation import (
    CHGNET,
    check_foundation,
    foundation_calculator,
    foundation_kind,
)
from pyacemaker.surrogate.jobs import TeacherTrainMaker
from pyacemaker.surrogate.mace import FoundationModelError, _train_args, resolve_device
from pyacemaker.surrogate.pretrain import EnergyZeroMaker, PretrainedTeacherMaker
from pyacemaker.surrogate.schemas import MaceTrainSettings, TeacherDoc

from .conftest import MINI_EMT, write_config


def test_foundation_kinds() -> None:
    assert foundation_kind("none") == "none"
    assert foundation_kind("CHGNet") == "calculator"
    assert foundation_kind("ase.calculators.emt.EMT") == "calculator"
    assert foundation_kind("mace-mp-0-small") == "mace"
    assert foundation_kind("/some/teacher.model") == "mace"


def test_device_auto_follows_torch() -> None:
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"
    assert "--device=cpu" in _train_args(
        MaceTrainSettings(device="cpu"), Path("run"), (Path("t"), Path("v"), 1), None
    )


def _si(scale: float, seed: int) -> Atoms:
    atoms = bulk("Si", "diamond", a=5.43 * scale, cubic=True)
    atoms.positions += np.random.default_rng(seed).normal(0.0, 0.05, atoms.positions.shape)
    return atoms


def test_chgnet_screen_drops_collapsed_and_exploded_cells(tmp_path: Path) -> None:
    """A cell squeezed to 0.75 of its lattice passes the distance check (0.74 x the
    covalent sum) and CHGNet's forces stay below 20 eV/Å (7.9), but CHGNet puts it
    4.8 eV/atom above the crystal; the cell expanded 1.5x sits 2.8 eV/atom above."""
    cells = [_si(1.0, 0), _si(1.02, 1), _si(0.98, 2), _si(0.75, 3), _si(1.5, 4)]
    candidates = write_dataset(tmp_path / "candidates.xyz", cells)
    job = DiversitySelectMaker(n=2, model=CHGNET, seed=1).make(str(candidates), str(tmp_path))
    doc = run_locally(job, ensure_success=True, log=False)[job.uuid][1].output
    assert isinstance(doc, SelectionDoc)
    assert sorted(doc.rejected) == [3, 4]
    assert all("eV/atom above the lowest candidate" in why for why in doc.rejected.values())
    assert set(doc.indices) <= {0, 1, 2}
    rejected = read_dataset(doc.rejected_dataset or "")
    assert "collapsed or exploded" in str(rejected[0].info["rejected"])


def test_melt_quench_and_normal_modes_with_chgnet(tmp_path: Path) -> None:
    settings = MixSettings(
        max_strain=0.04, rattle=0.05, temperatures=(300.0,), supercell_atoms=8,
        model=CHGNET, melting_point=1687.0,
    )  # fmt: skip
    frames = generate_mix(bulk("Si", "diamond", a=5.43), {"melt_quench": 1.0}, 2, settings, 5)
    assert len(frames) == 2
    assert {a.info["config_type"] for a in frames} == {"melt_quench"}
    ideal = bulk("Si", "diamond", a=5.43, cubic=True)
    moved = [np.abs(a.positions - ideal.positions).max() for a in frames]
    assert min(moved) > 0.1  # 2500 K MD has left the lattice sites
    assert all(min_distance_ratio(a) > 0.6 for a in frames)

    water = molecule("H2O")
    water.center(vacuum=5.0)
    water.pbc = True  # CHGNet needs a cell; 5 Å of vacuum keeps images apart
    calc = foundation_calculator(CHGNET)
    cells = normal_mode_cells(water, calc, 3, temperature_K=300.0, seed=2, workdir=tmp_path)
    assert len(cells) == 3
    shifts = [np.linalg.norm(c.positions - water.positions) for c in cells]
    assert all(0.005 < s < 0.5 for s in shifts)  # thermal amplitudes, not a blow-up


def _emt_cu(n: int, seed: int, workdir: Path) -> Path:
    """``n`` strained, rattled 4-atom Cu cells labelled by EMT (the "DFT" of this test)."""
    mix = MixSettings(max_strain=0.04, rattle=0.05, temperatures=(300.0,), supercell_atoms=4)
    cells = generate_mix(bulk("Cu", "fcc", a=3.6, cubic=True), {"strain": 1.0}, n, mix, seed)
    result = ase_calculator_oracle("ase.calculators.emt.EMT").label(cells, workdir / "emt")
    return write_dataset(workdir / "dft.xyz", result.labelled)


def test_pretrain_then_finetune_teacher_end_to_end(tmp_path: Path) -> None:
    """CHGNet labels synthetic Cu cells, MACE is pre-trained on them, then fine-tuned."""
    dft = _emt_cu(8, 1, tmp_path)
    settings = MaceTrainSettings(num_channels=8, max_num_epochs=4, batch_size=2, seed=3)
    maker = PretrainedTeacherMaker(
        foundation=CHGNET,
        structure=StructureConfig(formula="Cu", crystal="fcc", a=3.6),
        sampling=SamplingConfig(supercell_atoms=4, rattle_temperatures=[300.0]),
        n_structures=10,
        seed=3,
        finetune=TeacherTrainMaker(settings=settings),
        pretrain_epochs=4,
    )
    flow = maker.make(str(dft), str(tmp_path / "teacher"))
    doc = run_locally(flow, ensure_success=True, log=False)[flow.jobs[-1].uuid][1].output
    assert isinstance(doc, TeacherDoc)
    assert doc.foundation_resolution.how == "pretrained"
    assert doc.finetuning is not None and doc.finetuning.mode == "naive"
    assert doc.foundation is not None and doc.foundation.is_file()
    assert "labelled by chgnet" in doc.foundation_resolution.detail
    synthetic = read_dataset(tmp_path / "teacher" / "pretrain" / "label" / "labelled.xyz")
    assert len(synthetic) == 10
    assert "CHGNetCalculator" in str(synthetic[0].info["label_source"])
    # the pre-training labels are CHGNet's moved by the recorded offset onto EMT's zero
    offsets = doc.foundation_resolution.energy_offsets
    assert offsets is not None and set(offsets) == {"Cu"}
    aligned = read_dataset(tmp_path / "teacher" / "pretrain" / "align" / "labelled.xyz")
    for before, after in zip(synthetic, aligned, strict=True):
        assert energy_of(after) == pytest.approx(energy_of(before) + len(before) * offsets["Cu"])
    assert doc.n_valid >= 1 and np.isfinite(doc.valid_rmse_forces_ev_per_ang)
    assert doc.model_path.is_file() and doc.model_path != doc.foundation


def test_energy_zero_offsets_per_element(tmp_path: Path) -> None:
    """Least-squares offsets recover a known per-element zero shift; forces untouched."""
    true = {"Cu": -100.0, "Al": -40.0}
    cells = []
    for i in range(6):  # 0..4 Al of 4 atoms: compositions differ, so both offsets are fixed
        cell = bulk("Cu", "fcc", a=3.8, cubic=True)
        cell.symbols[: i % 5] = "Al"
        cell.rattle(0.05, seed=i)
        cells.append(cell)
    emt = ase_calculator_oracle("ase.calculators.emt.EMT").label(cells, tmp_path / "emt").labelled
    for atoms in emt[:4]:  # the "DFT" cells: EMT on another energy zero
        atoms.info[ENERGY_KEY] += sum(true[s] for s in atoms.symbols)
    train = write_dataset(tmp_path / "dft.xyz", emt[:4])
    labels = write_dataset(tmp_path / "foundation.xyz", emt[4:])
    job = EnergyZeroMaker(foundation="ase.calculators.emt.EMT").make(
        str(labels), str(train), str(tmp_path / "align")
    )
    doc = run_locally(job, ensure_success=True, log=False)[job.uuid][1].output
    assert doc.offsets == pytest.approx(true, abs=1e-6) and doc.residual_mev_per_atom < 1e-3
    for before, after in zip(emt[4:], read_dataset(doc.dataset), strict=True):
        shift = sum(true[s] for s in before.symbols)
        assert energy_of(after) == pytest.approx(energy_of(before) + shift, abs=1e-5)
        assert np.allclose(forces_of(after), forces_of(before))


def test_unloadable_foundation_stops_before_any_dft(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No cached MACE-MP-0 and no network (the hub download is the only stand-in)."""
    import mace.calculators.foundations_models as fm

    def offline(*_args: object, **_kwargs: object) -> str:
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(fm, "download_mace_mp_checkpoint", offline)
    for spec in ("mace-mp-0-small", "nosuchpackage.calculators.Missing"):
        out = tmp_path / spec
        config = {
            **MINI_EMT,
            "teacher": {**MINI_EMT["teacher"], "foundation": spec},
            "output_dir": str(out),
        }
        path = write_config(tmp_path / f"cfg-{spec}", config)
        assert main(["run", str(path), "--store", str(tmp_path / "store")]) == 1
        printed = capsys.readouterr()
        message = printed.out + printed.err
        assert f"teacher.foundation = {spec!r}" in message
        assert "'teacher.foundation: chgnet'" in message and "offline" in message
        assert not list(out.glob("03_*")), "DFT started although the foundation cannot load"
    assert "CHGNetCalculator" in check_foundation(CHGNET)
    with pytest.raises(FoundationModelError, match="chgnet"):
        check_foundation("nosuchpackage.calculators.Missing")


def test_model_generators_need_a_foundation() -> None:
    from pyacemaker.config.errors import ConfigError
    from pyacemaker.config.plan import expand
    from pyacemaker.config.schema import RunConfig
    from pyacemaker.flows.distill import teacher_maker

    mix = {"generators": {"strain": 1.0, "melt_quench": 0.2}}
    with pytest.raises(ConfigError, match=r"melt_quench.*chgnet"):
        expand(RunConfig.model_validate({"structure": "Si", "sampling": mix,
                                         "teacher": {"foundation": "none"}}))  # fmt: skip
    plan = expand(RunConfig.model_validate({"structure": "Si", "sampling": mix, "teacher": {
        "foundation": "chgnet", "pretrain": False}}))  # fmt: skip
    assert any("trained from scratch; chgnet screens" in n for n in plan.notes)
    assert isinstance(teacher_maker(plan), TeacherTrainMaker)
    assert plan.teacher.settings.device == "auto"
    plan = expand(RunConfig.model_validate({"structure": "Si", "sampling": mix,
                                            "teacher": {"foundation": "chgnet"}}))  # fmt: skip
    assert any("pre-trained on 64 synthetic structures labelled by chgnet" in n for n in plan.notes)
    assert isinstance(teacher_maker(plan), PretrainedTeacherMaker)  # the default route
