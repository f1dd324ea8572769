"""Makers that generate candidate structures for labelling."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ase import Atoms
from jobflow import Maker, job
from pydantic import BaseModel

from pyacemaker.config.schema import SamplingConfig, StructureConfig
from pyacemaker.data import CONFIG_TYPE_KEY, write_dataset
from pyacemaker.progress import stage
from pyacemaker.structures.generate import strain_rattle, volume_series
from pyacemaker.structures.generators import einstein_frequency_thz
from pyacemaker.structures.phases import Phase, build_phases, phase_budget, tag_phase
from pyacemaker.structures.policy import (
    GeneratorMix,
    MixSettings,
    classify,
    generate_mix,
    generator_mix,
    melting_point,
)
from pyacemaker.surrogate.schemas import has_foundation

DEFAULT_RATTLE_K = (300.0,)


class CandidatesDoc(BaseModel):
    """Where the generated structures are, and which generators made them and why."""

    candidates: str
    test: str
    eos: str
    n_candidates: int
    n_test: int
    n_eos: int
    seed: int
    material_class: str = ""
    generator_counts: dict[str, int] = {}
    phase_counts: dict[str, dict[str, int]] = {}  # phase -> {candidates, test, eos}
    reasons: list[str] = []


@dataclass
class CandidateMaker(Maker):
    """Candidates from the generator mix, an independent held-out set, and EOS volumes.

    ``model`` (a foundation spec, "none" for no model) drives the model-based
    generators (normal modes of molecules).

    The mix comes from ``sampling.generators`` (filled by the plan's policy) or, when
    empty, from the material class of the prototype. The held-out cells are strained
    and rattled bulk cells from a different seed, so no test structure can be a
    selected training structure and the held-out errors stay comparable across mixes.
    """

    name: str = "generate"
    structure: StructureConfig = field(default_factory=lambda: StructureConfig(formula="Si"))
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    eos_points: int = 7
    eos_strain: float = 0.06
    seed: int = 42
    model: str = "none"

    def _mix(self, proto: Atoms) -> GeneratorMix:
        s = self.sampling
        material = s.material_class or classify(proto)
        return generator_mix(material, s.supercell_atoms, s.generators, has_foundation(self.model))

    def _settings(self, proto: Atoms) -> MixSettings:
        s = self.sampling
        elements = sorted(set(proto.get_chemical_symbols()))
        model = self.model if has_foundation(self.model) else None
        return MixSettings(
            max_strain=s.max_strain,
            rattle=s.rattle,
            temperatures=tuple(s.rattle_temperatures or DEFAULT_RATTLE_K),
            supercell_atoms=s.supercell_atoms,
            model=model,
            einstein_thz=einstein_frequency_thz(proto, melting_point(elements)),
            melting_point=melting_point(elements),
        )

    def _phase(self, phase: Phase, n_cand: int, n_test: int, seed: int) -> list[list[Atoms]]:
        """Candidates (the phase's generator mix), held-out cells and EOS volumes of a phase."""
        s = self.sampling
        proto = phase.atoms
        cands = generate_mix(proto, self._mix(proto).shares, n_cand, self._settings(proto), seed)
        test = strain_rattle(
            proto, n_test, max_strain=s.max_strain, rattle=s.rattle,
            min_atoms=s.supercell_atoms, seed=seed + 1, tag="test",
        )  # fmt: skip
        eos = volume_series(proto, self.eos_points, self.eos_strain)
        return [tag_phase(group, phase.name) for group in (cands, test, eos)]

    @job
    def make(self, workdir: str) -> CandidatesDoc:
        """Write ``candidates.xyz``, ``test.xyz`` and ``eos.xyz`` into ``workdir``.

        Every phase gets its share of the budget (the plan's even split), its own
        generator mix, held-out cells and EOS series; each structure keeps
        ``info["phase"]``. The first phase keeps the run's seed, so a one-phase run is
        unchanged; later phases offset it.
        """
        s = self.sampling
        with stage("generate", f"{s.n_candidates} candidates + {s.n_test} held-out"):
            phases, _ = build_phases(self.structure)
            names = [p.name for p in phases]
            n_cands = phase_budget(names, s.n_candidates)
            n_tests = phase_budget(names, s.n_test)
            cands: list[Atoms] = []
            test: list[Atoms] = []
            eos: list[Atoms] = []
            counts: dict[str, int] = {}
            per_phase: dict[str, dict[str, int]] = {}
            for k, phase in enumerate(phases):
                c, t, e = self._phase(phase, n_cands[phase.name], n_tests[phase.name],
                                      self.seed + 100_003 * k)  # fmt: skip
                cands, test, eos = cands + c, test + t, eos + e
                per_phase[phase.name] = {"candidates": len(c), "test": len(t), "eos": len(e)}
            for atoms in cands:
                kind = str(atoms.info[CONFIG_TYPE_KEY])
                counts[kind] = counts.get(kind, 0) + 1
            mix = self._mix(phases[0].atoms)
            out = Path(workdir)
            return CandidatesDoc(
                candidates=str(write_dataset(out / "candidates.xyz", cands)),
                test=str(write_dataset(out / "test.xyz", test)),
                eos=str(write_dataset(out / "eos.xyz", eos)),
                n_candidates=len(cands),
                n_test=len(test),
                n_eos=len(eos),
                seed=self.seed,
                material_class=mix.material_class,
                generator_counts=counts,
                phase_counts=per_phase,
                reasons=mix.reasons,
            )
