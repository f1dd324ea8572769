"""Langevin sampler with EMT Cu: frame count, seeding, temperature, stability checks."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

from pyacemaker.dynamics.ase_md import MDInstabilityError, StabilityLimits, sample_md


def small_cell() -> Atoms:
    return bulk("Cu", "fcc", a=3.61, cubic=True)


def test_frame_count_and_metadata() -> None:
    start = small_cell()
    start.info["REF_energy"] = -1.0  # labels of the start frame must not leak into snapshots
    start.arrays["REF_forces"] = np.zeros((len(start), 3))
    frames = sample_md(start, EMT(), temperature_K=300, steps=40, interval=5, seed=0)
    assert len(frames) == 40 // 5
    assert [f.info["md_step"] for f in frames] == list(range(5, 41, 5))
    for frame in frames:
        assert frame.info["config_type"] == "md_300K"
        assert frame.calc is None and not frame.constraints
        assert "REF_energy" not in frame.info and "REF_forces" not in frame.arrays
    assert np.array_equal(start.positions, small_cell().positions)  # input untouched
    assert len(sample_md(start, EMT(), temperature_K=300, steps=7, interval=3, seed=0)) == 2


def test_same_seed_same_trajectory_other_seed_differs() -> None:
    def run(seed: int) -> list[Atoms]:
        return sample_md(small_cell(), EMT(), temperature_K=500, steps=30, interval=10, seed=seed)

    first, again, other = run(1), run(1), run(2)
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.positions, b.positions)
        assert np.array_equal(a.get_momenta(), b.get_momenta())
    assert not np.allclose(first[-1].positions, other[-1].positions)


def test_temperature_after_equilibration() -> None:
    """32 atoms, 600 fs at 500 K; mean T over the last 400 fs within 20 %."""
    cell = small_cell() * (2, 2, 2)
    frames = sample_md(
        cell, EMT(), temperature_K=500, steps=300, interval=5, seed=3, timestep_fs=2.0
    )
    temps = [f.get_temperature() for f in frames if f.info["md_step"] > 100]
    assert len(temps) == 40
    assert 400 < np.mean(temps) < 600


def test_exploding_run_stops_with_clear_error() -> None:
    """Two atoms squeezed to 0.6 Å: EMT repulsion throws them apart at once."""
    squeezed = Atoms("Cu2", positions=[[0, 0, 0], [0.6, 0, 0]], cell=[12, 12, 12], pbc=True)
    with pytest.raises(MDInstabilityError) as info:
        sample_md(squeezed, EMT(), temperature_K=300, steps=100, interval=10, seed=0)
    assert info.value.step <= 10 and info.value.frames == []
    assert "MD stopped at step" in str(info.value)


def test_distance_limits() -> None:
    frames = sample_md(
        small_cell(), EMT(), temperature_K=300, steps=10, interval=5, seed=0,
        limits=StabilityLimits(min_distance=None, isolation_cutoff=None),
    )  # fmt: skip
    assert len(frames) == 2
    lonely = Atoms("Cu2", positions=[[0, 0, 0], [6, 0, 0]], cell=[14, 14, 14], pbc=True)
    with pytest.raises(MDInstabilityError, match="no neighbour within"):
        sample_md(lonely, EMT(), temperature_K=300, steps=5, interval=5, seed=0)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        sample_md(small_cell(), EMT(), temperature_K=300, steps=10, interval=0, seed=0)
