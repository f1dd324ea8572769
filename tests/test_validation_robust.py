"""A bad potential gets a FAIL report, never a crash; a failed run says where and why.

The bad potentials are ASE's Lennard-Jones with nonsense parameters on fcc Cu, with
EMT as the reference (milliseconds per call):
- sigma 3 Å (atoms at 2.55 Å sit deep in the repulsive wall): the energy falls over
  the whole EOS range, so ase.eos finds no minimum ("Optimal parameters not found");
- sigma 0 (a potential that is identically zero): phonopy cannot build a DOS and the
  stiffness matrix is singular;
- sigma 2.3 Å, epsilon -5 eV (attraction inverted into a runaway): the MD blows up.
Each failure is a FAIL check with the validator's own reason, the other validators still
run, and the HTML report is written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from pyacemaker.cli import main
from pyacemaker.config.schema import ValidationConfig
from pyacemaker.runner import run
from pyacemaker.store import RunBook, job_state_table
from pyacemaker.validation.html import write_report
from pyacemaker.validation.reference import calculator_labeller
from pyacemaker.validation.suite import SuiteInputs, SuiteResult, run_suite

from .conftest import MINI_EMT

CU = bulk("Cu", "fcc", a=3.6)
FAST = ValidationConfig(md_steps=60, md_nve_steps=20, md_supercell_atoms=32)


def suite_of(potential: LennardJones, workdir: Path) -> SuiteResult:
    return run_suite(
        SuiteInputs(
            prototype=CU, potential=potential, config=FAST, a_ref=3.6,
            v_ref=CU.get_volume() / len(CU), workdir=workdir,
            reference=calculator_labeller(EMT(), "EMT"), md_temperatures=[300.0],
        )
    )  # fmt: skip


def failed(suite: SuiteResult) -> dict[str, str]:
    return {c.name: c.reason for c in suite.checks if not c.passed}


def test_an_eos_without_a_minimum_is_a_fail_with_the_reason(tmp_path: Path) -> None:
    suite = suite_of(LennardJones(sigma=3.0, epsilon=1.0, rc=6.0), tmp_path)
    reasons = failed(suite)
    assert "Optimal parameters not found" in reasons["EOS of the potential"]
    assert suite.eos_ace is None and suite.eos_ref is not None
    assert suite.phonons_ace is not None and suite.elastic_ace is not None  # still measured
    report = write_report(tmp_path / "report.html", "bad LJ", suite.checks, suite, {})
    text = report.read_text()
    assert "FAIL" in text and "Optimal parameters not found" in text


def test_failing_phonon_and_elastic_calculations_are_fails(tmp_path: Path) -> None:
    suite = suite_of(LennardJones(sigma=0.0, epsilon=1.0, rc=6.0), tmp_path)
    reasons = failed(suite)
    assert reasons["phonons: completed"].startswith("ValueError")
    assert "Singular matrix" in reasons["elastic: completed"]
    assert any(c.name.startswith("MD 300 K") for c in suite.checks)  # MD still ran
    assert write_report(tmp_path / "r.html", "zero", suite.checks, suite, {}).is_file()


def test_an_exploding_md_is_a_fail(tmp_path: Path) -> None:
    suite = suite_of(LennardJones(sigma=2.3, epsilon=-5.0, rc=6.0), tmp_path)
    assert "MD 300 K: completed without instability" in failed(suite)
    assert not suite.md[0].stable and suite.md[0].reason


def test_a_failed_run_names_the_stage_the_error_and_the_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stage that raises: the command, the run record and ``status`` all say why.

    The failure is real: the antisite generator refuses a one-element crystal inside the
    generate stage (a config the schema accepts), so the run fails within seconds.
    """
    data = {**MINI_EMT, "output_dir": str(tmp_path / "out"),
            "sampling": {**MINI_EMT["sampling"], "generators": {"antisite": 1.0}}}  # fmt: skip
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(data))
    with pytest.raises(RuntimeError) as info:
        run(config, store_path=tmp_path / "store")
    message = str(info.value)
    assert "failed at stage generate" in message
    assert "antisite defects need at least two elements" in message
    assert f"look in {tmp_path / 'out' / '01_generate'}" in message
    (record,) = RunBook(tmp_path / "store").all()
    assert record.state == "FAILED" and record.failure is not None
    assert record.failure.stage == "generate" and "antisite" in (record.error or "")
    status = "\n".join(job_state_table([record], tmp_path / "store"))
    assert "why: run cu-emt-mini failed at stage generate" in status
    assert "antisite defects need at least two elements" in status
    assert main(["run", str(config), "--store", str(tmp_path / "store")]) == 1
    err = capsys.readouterr().err
    assert "error: run cu-emt-mini failed at stage generate" in err and "look in" in err


def test_every_stage_has_its_folder(tmp_path: Path) -> None:
    """The folder a failure points at is the stage's own working folder, not a data file."""
    from pyacemaker.config.errors import parse_config
    from pyacemaker.config.plan import expand
    from pyacemaker.failures import job_folders
    from pyacemaker.flows.distill import DistillationMaker

    plan = expand(parse_config({**MINI_EMT, "output_dir": str(tmp_path)}))
    folders = job_folders(DistillationMaker.from_plan(plan).make(plan.output_dir).jobs, tmp_path)
    assert folders["ace_base"] == str(tmp_path / "07_ace_base")  # its kwargs hold data files
    assert folders["generate"] == str(tmp_path / "01_generate")
    assert folders["validate"] == str(tmp_path / "10_validate")
