"""A miniature quickstart on real Quantum ESPRESSO: DFT → MACE → ACE → delta → validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyacemaker.runner import run

from .conftest import write_config

MINI_SI = {
    "name": "si-mini",
    "seed": 11,
    "structure": {"formula": "Si", "crystal": "diamond", "a": 5.43},
    "dft": {"pseudopotentials": {"Si": "Si.pbe-rrkj.UPF"}, "kspacing": 0.5},
    "sampling": {
        "n_candidates": 16,
        "n_train": 8,
        "n_test": 4,
        "supercell_atoms": 2,
        "max_strain": 0.03,
        "rattle": 0.04,
    },
    # the bounds below were measured without pool DFT calls (threshold_call_dft was never)
    "teacher": {"foundation": "none", "max_num_epochs": 60, "num_channels": 8,
                "committee": {"threshold_call_dft": None}},
    "pool": {
        "temperatures": [400, 900],
        "steps": 120,
        "interval": 10,
        "volume_scales": [0.97, 1.0, 1.03],
        "supercell_atoms": 8,
    },
    "ace": {"n_functions": 25, "max_iter": 120, "delta_max_iter": 80},
    "validation": {"eos_points": 5, "eos_strain": 0.05},
}


@pytest.mark.slow
def test_mini_quickstart_on_real_dft(tmp_path: Path) -> None:
    config = write_config(tmp_path, {**MINI_SI, "output_dir": str(tmp_path / "out")})
    summary = run(config, store_path=tmp_path / "store")
    errors = summary.validation.test_errors
    final, base = errors["final_ace"], errors["teacher_only_ace"]
    assert summary.dft_ledger is not None and summary.dft_failed == 0
    calls = {line.purpose: line.calls for line in summary.dft_ledger.lines}
    assert (calls["training"], calls["held-out"], calls["EOS"], calls["reference atoms"]) == (
        8, 4, 5, 1
    )
    assert summary.dft_calls == sum(calls.values())  # + validation reference cells
    # Physics: the delta-corrected ACE reproduces held-out pw.x energies and forces ...
    assert final.energy_rmse_mev < 10.0
    assert final.force_rmse < 0.15
    # ... and its forces are better on DFT than those of the ACE fitted to teacher labels
    # alone (the pipeline's own "delta correction improves" check).
    assert final.force_rmse < base.force_rmse
    eos_dft, eos_ace = summary.validation.eos_dft, summary.validation.eos_ace
    assert eos_ace.a0 == pytest.approx(eos_dft.a0, rel=0.01)
    assert 60 < eos_dft.b0_gpa < 120  # PBE silicon: about 88 GPa
