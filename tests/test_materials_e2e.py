"""Materials end to end, as a user runs them: a binary alloy over three compositions and a
compound labelled by real pw.x (issue 12's "done when").

Each test is one `pyacemaker.runner.run` of a small config through every stage (DFT or
EMT labels, MACE teacher, committee, teacher MD, ACE base/direct/delta fits, active set,
for the alloy LAMMPS exploration, validation, report) and reads the held-out errors of
the delivered potential per composition/phase from the run's validation document and
metrics.json, against the bounds the config sets. Costs: docs/multi_element.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pyacemaker.data import read_dataset
from pyacemaker.flows.report import RunSummary
from pyacemaker.runner import run

from .conftest import write_config

# The held-out bounds each config sets (validation.max_energy_rmse_mev / max_force_rmse);
# the runs check every phase against them and the tests read those checks. Looser than
# the defaults (5 meV/atom, 0.1 eV/Å): 12 (alloy) or 8 (SiC) training cells do not reach
# those. Spreads measured: beside each assertion.
NIAL_BOUNDS = {"max_energy_rmse_mev": 20.0, "max_force_rmse": 0.2}
SIC_BOUNDS = {"max_energy_rmse_mev": 40.0, "max_force_rmse": 0.2}
NIAL_PHASES = ["fcc-Ni25Al75", "fcc-Ni50Al50", "fcc-Ni75Al25"]
NIAL: dict[str, Any] = {
    "name": "nial-e2e",
    "seed": 1,
    "structure": {
        "alloy": {"elements": ["Ni", "Al"], "lattice": "fcc", "compositions": [0.25, 0.5, 0.75]}
    },
    "oracle": {"engine": "ase.calculators.emt.EMT"},
    "sampling": {"n_candidates": 24, "n_train": 12, "n_test": 6, "supercell_atoms": 4},
    "teacher": {"foundation": "none", "max_num_epochs": 30, "num_channels": 8},
    "pool": {
        "temperatures": [300, 800],
        "steps": 60,
        "interval": 10,
        "volume_scales": [0.97, 1.03],
        "supercell_atoms": 4,
    },
    "ace": {"n_functions": 20, "max_iter": 80, "delta_max_iter": 40},
    "active_learning": {
        "enabled": True,
        "max_iterations": 1,
        "max_dft_per_iteration": 1,
        "steps": 200,
        "supercell_atoms": 32,
        "update_max_iter": 40,
    },
    "validation": NIAL_BOUNDS,
}

SIC_PHASES = ["SiC-zincblende"]
SIC: dict[str, Any] = {
    "name": "sic-e2e",
    "seed": 1,
    "structure": {"formula": "SiC", "crystal": "zincblende", "a": 4.36},
    "dft": {
        "pseudopotentials": {"Si": "Si.pbe-rrkj.UPF", "C": "C.pbe-rrkjus.UPF"},
        "ecutwfc": 25,
        "ecutrho": 200,
        "kspacing": 0.5,
    },
    "sampling": {
        "n_candidates": 16,
        "n_train": 8,
        "n_test": 4,
        "supercell_atoms": 2,
        "max_strain": 0.03,
        "rattle": 0.04,
    },
    "teacher": {"foundation": "none", "max_num_epochs": 60, "num_channels": 8},
    "pool": {
        "temperatures": [600, 1500],
        "steps": 60,
        "interval": 10,
        "volume_scales": [0.97, 1.03],
        "supercell_atoms": 8,
    },
    "ace": {"n_functions": 20, "max_iter": 100, "delta_max_iter": 60},
    # No phonons: their pw.x reference is a 54-atom supercell (phonon_min_length 7 Å) per
    # displacement, over 450 s of CPU each at these settings (measured) -- the whole budget.
    "validation": {"eos_points": 5, "eos_strain": 0.05, "phonons": False, **SIC_BOUNDS},
}


def run_config(folder: Path, config: dict[str, Any]) -> RunSummary:
    """Run ``config`` end to end in ``folder`` on its own store."""
    path = write_config(folder, {**config, "output_dir": str(folder / "out")})
    return run(path, store_path=folder / "store")


def calls_by_purpose(summary: RunSummary) -> dict[str, int]:
    """The run's DFT (or oracle) calls by purpose, from its ledger."""
    assert summary.dft_ledger is not None
    return {line.purpose: line.calls for line in summary.dft_ledger.lines}


def held_out_per_phase(summary: RunSummary, folder: Path) -> dict[str, tuple[float, float]]:
    """(energy meV/atom, force eV/Å) of the delivered ACE per phase, as metrics.json has them.

    Also checks that the run's own per-phase held-out checks exist and agree.
    """
    metrics = json.loads((folder / "out" / "metrics.json").read_text())
    recorded = metrics["validation"]["phase_errors"]
    errors = summary.validation.phase_errors
    assert sorted(recorded) == sorted(errors)
    checks = {c.name: c for c in summary.validation.checks if c.group == "held-out"}
    out = {}
    for name, m in errors.items():
        assert recorded[name]["energy_rmse_mev"] == pytest.approx(m.energy_rmse_mev)
        if len(errors) > 1:  # one phase: the run-wide held-out check is the phase's
            check = checks[f"held-out [{name}] energy RMSE (meV/atom)"]
            assert check.value == pytest.approx(m.energy_rmse_mev)
        out[name] = (m.energy_rmse_mev, m.force_rmse)
    return out


def summary_check_passed(summary: RunSummary, phase: str) -> bool:
    """Whether the run's own held-out checks of ``phase`` (energy and force) passed."""
    names = {f"held-out [{phase}] energy RMSE (meV/atom)", f"held-out [{phase}] force RMSE (eV/Å)"}
    found = [c.passed for c in summary.validation.checks if c.name in names]
    return len(found) == 2 and all(found)


@pytest.mark.slow
def test_binary_alloy_over_three_compositions_with_exploration(tmp_path: Path) -> None:
    summary = run_config(tmp_path, NIAL)
    ledger = calls_by_purpose(summary)
    assert (ledger["training"], ledger["held-out"], ledger["reference atoms"]) == (12, 6, 2)
    assert ledger["EOS"] == 3 * 7  # an EOS series per composition
    assert ledger["exploration"] >= 1  # LAMMPS MD halted on γ and a cut-out was labelled
    delivery = summary.validation.delivery  # after exploration: three candidates, the best
    assert delivery is not None and set(delivery.scores) == {"final_ace", "direct_ace", "refit_ace"}
    assert delivery.delivered == min(delivery.scores, key=lambda k: delivery.scores[k])
    refit = read_dataset(tmp_path / "out" / "09c_ace_refit" / "labels" / "labelled.xyz")
    pool_dft = ledger.get("pool (committee unsure)", 0)  # pool frames sent to the oracle
    assert len(refit) == 12 + pool_dft + ledger["exploration"]  # cut-outs included
    errors = held_out_per_phase(summary, tmp_path)
    assert sorted(errors) == NIAL_PHASES
    # Measured (2026-12-01, seeds 1-5 of this config, benchmarks/materials_e2e.py nial): the
    # delivered ACE per phase 0.52-12.33 meV/atom, 0.010-0.054 eV/Å (bounds 1.6x and 3.7x
    # above the worst); seed 2's teacher route stopped at its fit guard and the run delivered
    # the direct fit (so its three-candidate assertion above holds only for seeds like 1,
    # measured: 1, 3, 4, 5 made all three; docs/multi_element.md).
    for name, (energy, force) in errors.items():
        assert energy < NIAL_BOUNDS["max_energy_rmse_mev"], name
        assert force < NIAL_BOUNDS["max_force_rmse"], name
        assert summary_check_passed(summary, name)


@pytest.mark.slow
def test_compound_labelled_by_real_pw_x(tmp_path: Path) -> None:
    summary = run_config(tmp_path, SIC)
    ledger = calls_by_purpose(summary)
    assert (ledger["training"], ledger["held-out"], ledger["EOS"]) == (8, 4, 5)
    assert ledger["reference atoms"] == 2  # spin-polarised Si and C atoms in a box
    assert summary.dft_failed == 0
    errors = held_out_per_phase(summary, tmp_path)
    assert sorted(errors) == SIC_PHASES
    # Measured (2026-12-01, complete runs, seeds 1-5, benchmarks/materials_e2e.py sic): delivered
    # (the direct ACE in all 5) 4.78 / 7.99 / 11.83 / 1.47 / 1.49 meV/atom, 0.080 / 0.029 /
    # 0.100 / 0.110 / 0.027 eV/Å: the bounds sit 3.4x and 1.8x above the worst seed.
    energy, force = errors["SiC-zincblende"]
    assert energy < SIC_BOUNDS["max_energy_rmse_mev"]
    assert force < SIC_BOUNDS["max_force_rmse"]
