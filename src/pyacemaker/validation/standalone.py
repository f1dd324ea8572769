"""``pyacemaker validate-potential``: the validation suite on any ACE potential file.

The potential can come from this pipeline or elsewhere: a ``.yace`` (total energies if
it carries ``E0``), or a ``.yaml`` B-basis whose recorded reference energies are added
back; an ``.asi`` next to the ``.yaml`` enables the γ statistics. The structure,
reference and thresholds come from a run config (the same file ``pyacemaker run``
takes) or from a structure given on the command line; the reference can be the
config's oracle, pw.x (``qe``), any ASE calculator class, or none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ase.calculators.calculator import Calculator
from pyace import PyACECalculator

from pyacemaker.ace.pacemaker import TotalEnergyAceCalculator, potential_reference_energy
from pyacemaker.config.errors import ConfigError, parse_config
from pyacemaker.config.plan import Plan, expand
from pyacemaker.config.schema import OracleConfig, RunConfig
from pyacemaker.data import read_dataset
from pyacemaker.structures.generate import build_prototype
from pyacemaker.validation.html import write_report
from pyacemaker.validation.reference import oracle_labeller
from pyacemaker.validation.suite import SuiteInputs, SuiteResult, run_suite


@dataclass
class PotentialFiles:
    """The files of one potential, found from whichever of them the user named."""

    yace: Path | None
    yaml: Path | None
    asi: Path | None

    @classmethod
    def find(cls, given: str | Path) -> PotentialFiles:
        """Accept a ``.yace``, ``.yaml`` or a folder holding ``potential.*``."""
        path = Path(given)
        stem = path / "potential" if path.is_dir() else path.with_suffix("")
        files = {ext: stem.with_suffix(f".{ext}") for ext in ("yace", "yaml", "asi")}
        found = {ext: (p if p.is_file() else None) for ext, p in files.items()}
        if found["yace"] is None and found["yaml"] is None:
            raise FileNotFoundError(f"no {stem}.yace or {stem}.yaml: give an ACE potential file")
        return cls(found["yace"], found["yaml"], found["asi"])

    def calculators(self, elements: list[str]) -> tuple[Calculator, Calculator | None]:
        """Total-energy calculator, and the γ calculator when an active set exists."""
        reference = potential_reference_energy(self.yaml) if self.yaml else None
        shift = reference or dict.fromkeys(elements, 0.0)
        if self.yace is not None:
            calc = TotalEnergyAceCalculator(
                PyACECalculator(str(self.yace)), dict.fromkeys(elements, 0.0)
            )
        else:
            calc = TotalEnergyAceCalculator(PyACECalculator(str(self.yaml)), shift)
        gamma = None
        if self.yaml is not None and self.asi is not None:
            ace = PyACECalculator(str(self.yaml))
            ace.set_active_set(str(self.asi))
            gamma = TotalEnergyAceCalculator(ace, shift)
        return calc, gamma


@dataclass
class StandaloneRequest:
    """What the command line asked for (``reference``: None = the config's, ``none`` = skip)."""

    potential: Path
    config: Path | None = None
    structure: str | None = None
    crystal: str | None = None
    a: float | None = None
    reference: str | None = None
    data: dict[str, Path] = field(default_factory=dict)
    output: Path | None = None


def request_plan(req: StandaloneRequest) -> Plan:
    """The plan giving structure, oracle, thresholds and MD temperatures."""
    from pyacemaker.runner import plan_from_file

    if req.config is not None:
        plan = plan_from_file(req.config)
        if req.reference not in (None, "none"):
            cfg = RunConfig(structure=plan.structure, oracle=OracleConfig(engine=req.reference),
                            validation=plan.validation)  # fmt: skip
            plan = plan.model_copy(update={"oracle": expand(cfg).oracle})
        return plan
    if req.structure is None:
        raise ConfigError(["give --config CONFIG or --structure (a formula such as Si, or a file)"])
    given = Path(req.structure)
    structure = (
        {"file": str(given)}
        if given.is_file()
        else {"formula": req.structure, "crystal": req.crystal, "a": req.a}
    )
    # Without a reference the oracle is never built; EMT only keeps the plan valid offline.
    engine = req.reference if req.reference not in (None, "none") else "ase.calculators.emt.EMT"
    return expand(parse_config({"structure": structure, "oracle": {"engine": engine}}))


def validate_potential(req: StandaloneRequest) -> tuple[SuiteResult, Path]:
    """Run the suite and write ``report.html`` and ``validation.json`` into the output folder."""
    plan = request_plan(req)
    files = PotentialFiles.find(req.potential)
    out = req.output or Path(req.potential).resolve().parent / "validation"
    calc, gamma = files.calculators(plan.elements)
    use_reference = req.reference != "none" and (req.config is not None or bool(req.reference))
    reference = oracle_labeller(plan.oracle.build(), out / "reference") if use_reference else None
    subsets = {name: read_dataset(path) for name, path in req.data.items()}
    suite = run_suite(
        SuiteInputs(
            prototype=build_prototype(plan.structure),
            potential=calc,
            gamma_calc=gamma,
            config=plan.validation,
            a_ref=plan.a_ref,
            v_ref=plan.v_ref,
            workdir=out,
            reference=reference,
            subsets=subsets,
            checked_subsets=tuple(name for name in subsets if name != "train"),
            md_temperatures=plan.pool.temperatures,
            seed=plan.seed,
            potential_source=str(files.yace or files.yaml),
        )
    )
    (out / "validation.json").write_text(json.dumps(suite.model_dump(mode="json"), indent=2))
    provenance = {
        "potential": str(files.yace or files.yaml),
        "active set": str(files.asi) if files.asi else "none (no γ)",
        "reference": suite.reference_source or "none",
        "reference calls": suite.reference_calls,
        "parity data": {name: len(s) for name, s in subsets.items()},
        "validation settings": plan.validation.model_dump(mode="json"),
        "validation wall times (s)": suite.wall_time_s,
    }
    report = write_report(out / "report.html", f"validation of {req.potential}", suite.checks,
                          suite, provenance)  # fmt: skip
    return suite, report
