"""`pyacemaker doctor` runs every engine for real and says how to fix what is missing."""

from __future__ import annotations

import pytest

from pyacemaker import doctor


def test_all_engines_are_ok_here(capsys: pytest.CaptureFixture[str]) -> None:
    assert doctor.run_doctor()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["OK"] * len(doctor.CHECKS)
    assert any("CHGNet" in line or "chgnet" in line for line in lines)  # the offline foundation
    assert any("pw.x" in line or "Quantum ESPRESSO" in line for line in lines)
    assert any("pace/extrapolation" in line for line in lines)


def test_a_missing_engine_is_reported_with_its_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PYACEMAKER_PACE_PLUGIN", str(tmp_path / "absent.so"))
    monkeypatch.setitem(doctor.CHECKS, "Quantum ESPRESSO",
                        lambda: doctor.qe_check(command="pw.x-absent"))
    assert not doctor.run_doctor()
    out = capsys.readouterr().out
    lammps_line = next(line for line in out.splitlines() if "LAMMPS" in line)
    assert lammps_line.startswith("MISSING") and "scripts/setup.sh" in lammps_line
    qe_line = next(line for line in out.splitlines() if "Quantum ESPRESSO" in line)
    assert qe_line.startswith("MISSING") and "apt-get install" in qe_line
