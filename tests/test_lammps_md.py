"""Exploration MD in real LAMMPS: γ halts, smoothing, seamless resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.geometry import find_mic

from pyacemaker.data import read_dataset
from pyacemaker.dynamics.halting import HaltRule, first_halt
from pyacemaker.dynamics.lammps_md import md_step, run_exploration
from pyacemaker.dynamics.schemas import LammpsMDSettings, MDRunDoc

QUIET = HaltRule(1e6, 1e6)  # never collects, never halts


def _cell() -> Atoms:
    return bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)


def _run(
    emt_run: dict[str, Any], atoms: Atoms, settings: LammpsMDSettings, rule: HaltRule,
    target: int, workdir: Path, soft_start: bool = False,
) -> MDRunDoc:
    # The teacher route's potential, whose active set spans the pool (what exploration
    # runs with), not necessarily the delivered one: a direct fit's active set holds only
    # the 8 DFT cells, so γ is high from the first step.
    pot: Path = emt_run["out"] / "08_ace_delta"
    return run_exploration(
        atoms, pot / "potential.yaml", pot / "potential.asi", ["Cu"], settings, rule, target,
        workdir, soft_start=soft_start,
    )


def test_single_spike_halts_without_smoothing_but_not_with_it() -> None:
    trace = [1.2, 1.5, 1.3, 9.0, 1.4, 1.2, 1.6, 1.1]  # one thermal spike above 5
    assert first_halt(HaltRule(2.0, 5.0, smooth_steps=1), trace) == 3
    assert first_halt(HaltRule(2.0, 5.0, smooth_steps=3), trace) is None
    runaway = [1.2, 1.5, 6.0, 7.5, 9.0, 12.0]  # a real excursion stays high
    assert first_halt(HaltRule(2.0, 5.0, smooth_steps=3), runaway) == 4
    assert first_halt(HaltRule(2.0, 5.0, smooth_steps=3, threshold_hard=8.0), runaway) == 4
    assert first_halt(HaltRule(2.0, 5.0, smooth_steps=3, threshold_hard=6.0), runaway) == 2


def test_heating_run_halts_when_gamma_leaves_the_training_data(
    emt_run: dict[str, Any], tmp_path: Path
) -> None:
    settings = LammpsMDSettings(temperature=300, temperature_stop=6000, check_every=10, seed=5)
    rule = HaltRule(threshold_add_train=6.0, threshold_call_dft=15.0, smooth_steps=3)
    doc = _run(emt_run, _cell(), settings, rule, 3000, tmp_path)
    assert doc.halted and doc.end_step < doc.target_step == 3000
    assert doc.check_steps[-1] == doc.end_step and doc.end_step % 10 == 0
    assert min(doc.max_gamma[-3:]) >= 15.0  # halted on the smoothed grade
    assert doc.max_gamma[0] < 15.0  # ... which started inside the data at 300 K
    frames = read_dataset(doc.frames)
    assert len(frames) == doc.n_collected > 0
    assert all(f.arrays["gamma"].max() >= 6.0 for f in frames)
    state = read_dataset(doc.state)[0]
    assert md_step(state) == doc.end_step and np.any(state.get_velocities())


def test_resume_continues_at_the_halt_step_with_the_saved_velocities(
    emt_run: dict[str, Any], tmp_path: Path
) -> None:
    settings = LammpsMDSettings(temperature=600, check_every=10, seed=9, soft_start_steps=0)
    whole = _run(emt_run, _cell(), settings, QUIET, 60, tmp_path / "whole")
    first = _run(emt_run, _cell(), settings, QUIET, 30, tmp_path / "first")
    saved = read_dataset(first.state)[0]
    # loading the state into LAMMPS and saving it back (zero steps) keeps the velocities
    echo = _run(emt_run, saved, settings, QUIET, 30, tmp_path / "echo")
    assert np.allclose(read_dataset(echo.state)[0].get_velocities(), saved.get_velocities())
    second = _run(emt_run, saved, settings, QUIET, 60, tmp_path / "second")
    assert second.start_step == 30 and second.check_steps == [40, 50, 60]
    # continuing from the saved state follows the uninterrupted trajectory (only the
    # Nosé-Hoover chain restarts); atoms travel ~0.3 Å in these 30 steps at 600 K
    end = read_dataset(whole.state)[0]
    gap, _ = find_mic(read_dataset(second.state)[0].positions - end.positions, end.cell)
    assert np.abs(gap).max() < 0.02
    soft = _run(emt_run, saved, settings.model_copy(update={"soft_start_steps": 20}), QUIET, 60,
                tmp_path / "soft", soft_start=True)
    assert soft.check_steps == [40, 50, 60] and soft.temperature_mean == pytest.approx(600, rel=0.5)


def test_npt_compresses_the_cell(emt_run: dict[str, Any], tmp_path: Path) -> None:
    volumes = []
    for bar in (1.0, 1.0e5):  # ambient vs 10 GPa
        settings = LammpsMDSettings(temperature=300, pressure=bar, pdamp_steps=200, seed=5)
        doc = _run(emt_run, _cell(), settings, QUIET, 1500, tmp_path / f"p{bar:g}")
        state = read_dataset(doc.state)[0]
        volumes.append(state.get_volume() / len(state))
        assert len(doc.max_gamma) == len(doc.check_steps) > 0  # γ is tracked under NPT too
    assert volumes[1] < 0.95 * volumes[0]  # Cu: B ≈ 140 GPa, 10 GPa shrinks V by ~7 %
