"""On-the-fly active learning: explore with LAMMPS, label cut-outs, update, repeat.

One iteration is one job: MD through the temperature schedule with the current
potential until γ halts it (or the schedule ends), D-optimal selection among the
collected frames, cut-outs around their high-γ atoms, oracle labels, a continued fit
on a replay buffer and a new active set. Unless a stopping rule fires, the job
returns ``Response(replace=<next iteration>)``: the flow grows one iteration at a
time and anything downstream (validation) sees the last iteration's potential.
The MD resumes from the halt with the saved velocities and the step counter intact.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from jobflow import Maker, Response, job

from pyacemaker.ace.incremental import replay_update
from pyacemaker.ace.jobs import weighted
from pyacemaker.ace.pacemaker import (
    WEIGHT_KEY,
    ace_calculator,
    select_d_optimal,
    weighted_errors,
)
from pyacemaker.ace.schemas import AcePotentialDoc
from pyacemaker.config.plan import ActiveLearningPlan
from pyacemaker.config.schema import StructureConfig
from pyacemaker.data import read_dataset, write_dataset
from pyacemaker.dft.oracle import OracleSpec
from pyacemaker.dynamics.halting import HaltRule
from pyacemaker.dynamics.lammps_md import SEGMENT_START_KEY, md_step, run_exploration
from pyacemaker.dynamics.schemas import LammpsMDSettings, MDRunDoc
from pyacemaker.embedding.cutout import (
    CENTRE_KEY,
    cluster_cutout,
    high_gamma_centres,
    periodic_cutout,
    relax_buffer,
    strip_caps,
)
from pyacemaker.flows.active_learning_schemas import (
    ActiveLearningDoc,
    ErrorPair,
    GammaStats,
    IterationRecord,
    LoopState,
)
from pyacemaker.flows.guard import guard_errors, guard_violations, is_strain_cell
from pyacemaker.oracle import write_failed
from pyacemaker.progress import stage
from pyacemaker.structures.generate import build_prototype, supercell_repeat

HISTORY = "history.xyz"

logger = logging.getLogger(__name__)


@dataclass
class Exploration:
    """The MD of one iteration: the runs made and whether the schedule was completed."""

    runs: list[MDRunDoc]
    segment: int
    completed: bool

    @property
    def halted(self) -> bool:
        """Whether γ halted the last run."""
        return bool(self.runs) and self.runs[-1].halted


def md_settings(al: ActiveLearningPlan, temperature: float, iteration: int) -> LammpsMDSettings:
    """LAMMPS settings of one segment; the seed moves on with the iteration (Langevin)."""
    return LammpsMDSettings(
        temperature=temperature,
        pressure=al.pressure,
        timestep_fs=al.timestep_fs,
        check_every=al.check_every,
        seed=al.seed + iteration,
    )


def halt_rule(al: ActiveLearningPlan) -> HaltRule:
    """The dual-threshold rule of the plan."""
    return HaltRule(
        al.threshold_add_train, al.threshold_call_dft, al.smooth_steps, al.threshold_hard
    )


def explore(
    al: ActiveLearningPlan, potential: AcePotentialDoc, loop: LoopState, workdir: Path
) -> Exploration:
    """Run the schedule from the loop's state until a halt or its end.

    Each temperature must be held for ``steps`` consecutive steps without a halt: after a
    halt the segment's clock restarts at the halt step, and the resumed run begins
    with a Langevin soft start because the potential has changed under the velocities.
    """
    assert potential.asi_path is not None, "exploration needs the potential's active set"
    atoms = read_dataset(loop.state)[0]
    resumed = loop.iteration > 0
    runs, segment = [], loop.segment
    while segment < len(al.temperatures):
        if resumed:
            atoms.info[SEGMENT_START_KEY] = md_step(atoms)
        target = int(atoms.info.get(SEGMENT_START_KEY, md_step(atoms))) + al.steps
        run = run_exploration(
            atoms, potential.yaml_path, potential.asi_path, potential.elements,
            md_settings(al, al.temperatures[segment], loop.iteration), halt_rule(al), target,
            workdir / f"md_{segment}", soft_start=resumed,
        )
        resumed = False
        runs.append(run)
        if run.halted:
            return Exploration(runs, segment, completed=False)
        atoms = read_dataset(run.state)[0]
        atoms.info[SEGMENT_START_KEY] = run.end_step
        write_dataset(run.state, [atoms])
        segment += 1
    return Exploration(runs, segment, completed=True)


def gamma_stats(runs: Sequence[MDRunDoc]) -> GammaStats:
    """Statistics of the maximum-γ trace over all runs of an iteration."""
    trace = np.concatenate([r.max_gamma for r in runs]) if runs else np.zeros(1)
    trace = trace if trace.size else np.zeros(1)
    return GammaStats(
        n_checks=sum(len(r.max_gamma) for r in runs),
        mean=float(trace.mean()),
        p95=float(np.percentile(trace, 95)),
        max=float(trace.max()),
    )


def cutouts(
    al: ActiveLearningPlan, potential: AcePotentialDoc, frames: Sequence[Atoms], limit: int
) -> list[Atoms]:
    """Cut-outs around high-γ atoms of the frames (best frames first), buffer relaxed."""
    cuts: list[Atoms] = []
    for frame in frames:
        for centre in high_gamma_centres(
            frame, al.threshold_add_train, al.core_radius, limit - len(cuts)
        ):
            cuts.append(_cut(al, frame, centre))
    if al.relax_steps and al.cutout == "periodic":
        calc = ace_calculator(potential)
        cuts = [relax_buffer(c, calc, steps=al.relax_steps) for c in cuts]
    return cuts


def _cut(al: ActiveLearningPlan, frame: Atoms, centre: int) -> Atoms:
    if al.cutout == "cluster":
        return cluster_cutout(frame, centre, al.core_radius, al.buffer_radius)
    return periodic_cutout(frame, centre, al.core_radius, al.buffer_radius)


def errors(potential: AcePotentialDoc, structures: Sequence[Atoms]) -> ErrorPair | None:
    """Weighted errors (cut-outs: core forces only), None for an empty set."""
    if not structures:
        return None
    energy, force = weighted_errors(potential, structures)
    return ErrorPair(energy_rmse_mev=energy, force_rmse=force)


@dataclass
class Update:
    """Result of labelling and refitting: the new potential and the new labels."""

    potential: AcePotentialDoc
    new: list[Atoms]
    n_calls: int
    n_failed: int
    seconds: float = 0.0  # wall time of the oracle calls


def label_and_update(
    al: ActiveLearningPlan,
    oracle: OracleSpec,
    potential: AcePotentialDoc,
    cuts: Sequence[Atoms],
    loop: LoopState,
    workdir: Path,
) -> Update:
    """Oracle labels for the cut-outs, appended to the history; continued fit and active set."""
    result = oracle.build().label(cuts, workdir / "dft")
    write_failed(result, workdir)
    new = [strip_caps(a) for a in result.labelled]
    for atoms in new:
        atoms.info[WEIGHT_KEY] = al.new_data_weight
    write_dataset(workdir / "new.xyz", new)
    history = read_dataset(loop.history)
    if not new:
        return Update(potential, [], len(cuts), len(result.failed), result.wall_time)
    updated = replay_update(
        potential, history, new, workdir / "update", al.fit,
        size=al.replay_size, seed=al.seed + loop.iteration, always=is_strain_cell,
    )  # fmt: skip
    write_dataset(loop.history, history + new)
    return Update(updated, new, len(cuts), len(result.failed), result.wall_time)


def stop_reason(al: ActiveLearningPlan, record: IterationRecord, n_dft: int) -> str | None:
    """Why the loop ends after this iteration, or None to go on."""
    if not record.halted:
        ps = al.steps * al.timestep_fs / 1000.0
        return f"no halt over {ps:g} ps at the target {al.temperatures[-1]:g} K"
    if record.test and al.target_force_rmse and record.test.force_rmse <= al.target_force_rmse:
        return f"held-out force RMSE {record.test.force_rmse:.3f} eV/Å below the target"
    if n_dft >= al.max_dft_calls:
        return f"DFT budget of {al.max_dft_calls} calls spent"
    if record.iteration + 1 >= al.max_iterations:
        return f"{al.max_iterations} iterations done"
    return None


def iterate(
    al: ActiveLearningPlan,
    oracle: OracleSpec,
    potential: AcePotentialDoc,
    loop: LoopState,
    workdir: Path,
) -> tuple[ActiveLearningDoc, LoopState]:
    """One iteration: explore, select, label, update; the record and the next loop state."""
    start = time.perf_counter()
    folder = workdir / f"iter_{loop.iteration:03d}"
    md = explore(al, potential, loop, folder)
    frames = [a for run in md.runs for a in read_dataset(run.frames)] if md.halted else []
    budget = min(al.max_dft_per_iteration, al.max_dft_calls - loop.n_dft)
    picked = select_d_optimal(potential, frames, budget) if budget > 0 else []
    chosen = [frames[i] for i in picked]
    cuts = cutouts(al, potential, chosen, budget) if chosen else []
    update = label_and_update(al, oracle, potential, cuts, loop, folder) if cuts else None
    record = _record(al, loop, potential, md, (len(frames), len(chosen)), update)
    record.wall_time_s = time.perf_counter() - start
    child = update.potential if update and record.accepted is not False else potential
    n_dft = loop.n_dft + record.n_dft
    reason = stop_reason(al, record, n_dft)
    state = _resume_from(md, loop, record)
    next_test = _next_test(loop, update if record.accepted else None, folder)
    next_loop = LoopState(
        iteration=loop.iteration + 1, segment=md.segment, state=state, history=loop.history,
        test=next_test, guard=loop.guard, n_dft=n_dft, records=[*loop.records, record],
    )
    doc = ActiveLearningDoc(
        potential=child, iterations=next_loop.records, n_dft=n_dft, stop_reason=reason,
        history=loop.history, state=state,
    )
    return doc, next_loop


def _resume_from(md: Exploration, loop: LoopState, record: IterationRecord) -> str:
    """Where the next iteration's MD starts: the halt, or the last calm state.

    After an accepted update the run resumes exactly at the halt. Without one (update
    rejected, or nothing labelled) the same potential would halt again at once at the
    same configuration, so it goes back to the latest check below
    ``threshold_add_train`` (its step counter with it) and the dynamics diverge from there.
    """
    if not md.runs:
        return loop.state
    last = md.runs[-1]
    return last.state if record.accepted or not record.halted else last.calm_state


def _record(
    al: ActiveLearningPlan,
    loop: LoopState,
    parent: AcePotentialDoc,
    md: Exploration,
    counts: tuple[int, int],
    update: Update | None,
) -> IterationRecord:
    """The iteration's record; errors before and after the update where there was one."""
    previous = read_dataset(loop.test)
    record = IterationRecord(
        iteration=loop.iteration,
        temperature=al.temperatures[min(md.segment, len(al.temperatures) - 1)],
        start_step=md.runs[0].start_step if md.runs else 0,
        end_step=md.runs[-1].end_step if md.runs else 0,
        halted=md.halted,
        gamma=gamma_stats(md.runs),
        n_frames=counts[0],
        n_selected=counts[1],
        n_dft=update.n_calls if update else 0,
        n_failed=update.n_failed if update else 0,
        dft_seconds=update.seconds if update else 0.0,
        parent=str(parent.yaml_path),
        potential=str(parent.yaml_path),
        test=errors(parent, held_out(previous)),
        wall_time_s=0.0,
    )
    if update is not None and update.new:
        _judge_update(al, record, parent, update, previous, guard_set(loop, previous))
    return record


def guard_set(loop: LoopState, previous: Sequence[Atoms]) -> list[Atoms]:
    """Held-out cells, the DFT EOS cells and the DFT strain cells of the history."""
    eos = read_dataset(loop.guard) if loop.guard else []
    strain = [a for a in read_dataset(loop.history) if is_strain_cell(a)]
    return [*held_out(previous), *eos, *strain]


def _judge_update(
    al: ActiveLearningPlan,
    record: IterationRecord,
    parent: AcePotentialDoc,
    update: Update,
    previous: list[Atoms],
    guard: list[Atoms],
) -> None:
    """Errors before/after on the new labels and the previous test set; accept or reject.

    An update that raises the force RMSE of the previous test set, or of its held-out
    part alone, by more than ``max_forgetting`` is rejected (the parent stays); its
    labels stay in the history. The held-out part is judged separately so that a big
    improvement on the previous cut-outs cannot hide a loss on the held-out data. It is
    also rejected if it fails the guard (flows/guard.py): energies, forces or stresses
    on the held-out, EOS and strain cells.
    """
    child = update.potential
    record.train = ErrorPair(
        energy_rmse_mev=child.rmse_energy_mev_per_atom, force_rmse=child.rmse_forces_ev_per_a
    )
    record.new_before, record.new_after = errors(parent, update.new), errors(child, update.new)
    record.previous_test_before = errors(parent, previous)
    record.previous_test_after = errors(child, previous)
    held_after = errors(child, held_out(previous))
    pairs = [(record.previous_test_before, record.previous_test_after), (record.test, held_after)]
    record.forgetting_ok = all(forces_within(al, before, after) for before, after in pairs)
    record.guard_before = guard_errors(parent, guard)
    record.guard_after = guard_errors(child, guard)
    violations = guard_violations(record.guard_before, record.guard_after, al.max_forgetting)
    record.guard_ok = not violations
    record.accepted = record.forgetting_ok and record.guard_ok
    if record.accepted:
        record.potential, record.test = str(child.yaml_path), held_after
    else:
        why = "forgetting" if not record.forgetting_ok else "guard: " + "; ".join(violations)
        logger.warning("update rejected (%s): the parent potential is kept", why)


def forces_within(
    al: ActiveLearningPlan, before: ErrorPair | None, after: ErrorPair | None
) -> bool:
    """Force RMSE after the update within ``(1 + max_forgetting)`` of before (or nothing)."""
    if before is None or after is None:
        return True
    return after.force_rmse <= (1.0 + al.max_forgetting) * before.force_rmse


def _next_test(loop: LoopState, update: Update | None, folder: Path) -> str:
    """Next iteration's previous-test set: the held-out set plus the cut-outs just learned.

    Re-evaluating the cut-outs learned now after the next update is the direct check
    that an update did not overwrite what the previous one taught. A rejected update
    (``update=None``) leaves the set as it was.
    """
    if update is None or not update.new:
        return loop.test
    kept = held_out(read_dataset(loop.test))
    return str(write_dataset(folder / "previous_test.xyz", kept + update.new))


def held_out(structures: Sequence[Atoms]) -> list[Atoms]:
    """The held-out structures of a previous-test set (its cut-outs left out)."""
    return [a for a in structures if CENTRE_KEY not in a.info]


def start_loop(
    structure: StructureConfig | str,
    datasets: Sequence[str],
    weights: Sequence[float],
    test: str,
    al: ActiveLearningPlan,
    workdir: Path,
    guard: str | None = None,
) -> LoopState:
    """Write the start structure and the initial history (weighted datasets) into ``workdir``."""
    if isinstance(structure, str):
        atoms = read_dataset(structure)[0]
    else:
        proto = build_prototype(structure)
        atoms = proto.repeat(supercell_repeat(proto, al.supercell_atoms))
    atoms.info.clear()
    start = write_dataset(workdir / "start.xyz", [atoms])
    history = write_dataset(workdir / HISTORY, weighted(list(datasets), list(weights)))
    return LoopState(state=str(start), history=str(history), test=test, guard=guard)


@dataclass
class ActiveLearningMaker(Maker):
    """Exploration iterations that replace themselves until a stopping rule fires.

    ``structure`` builds the MD start cell (a prototype supercell) unless ``make`` gets a
    ``start`` extxyz. ``datasets``/``weights`` seed the labelled history (e.g. the DFT
    training set and the teacher pool with the delta fit's weights); ``test`` is the
    held-out set the errors are measured on; ``guard`` the DFT EOS cells every update
    is also judged on (flows/guard.py).
    """

    settings: ActiveLearningPlan
    oracle: OracleSpec = field(default_factory=OracleSpec)
    structure: StructureConfig | None = None
    name: str = "active_learning"

    @job
    def make(
        self,
        potential: AcePotentialDoc,
        datasets: list[str],
        weights: list[float],
        test: str,
        workdir: str,
        start: str | None = None,
        loop: LoopState | None = None,
        guard: str | None = None,
    ) -> Response[ActiveLearningDoc] | ActiveLearningDoc:
        """Run one iteration; replace itself with the next unless the loop stops."""
        folder = Path(workdir)
        if loop is None:
            source = start or self.structure
            if source is None:
                raise ValueError("give the maker a structure or make() a start extxyz")
            loop = start_loop(source, datasets, weights, test, self.settings, folder, guard)
        step = md_step(read_dataset(loop.state)[0])
        with stage(f"{self.name} iteration {loop.iteration}", f"from MD step {step}"):
            doc, next_loop = iterate(self.settings, self.oracle, potential, loop, folder)
        if doc.stop_reason is not None:
            return doc
        following = self.make(
            doc.potential, datasets, weights, test, workdir, start, next_loop, guard
        )
        return Response(output=doc, replace=following)
