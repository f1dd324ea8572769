"""Config parsing: valid inputs expand to a plan; bad inputs give one line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pyacemaker.cli import main
from pyacemaker.config.errors import ConfigError, parse_config
from pyacemaker.config.plan import expand

QUICKSTART = Path(__file__).parents[1] / "workflows" / "quickstart" / "si.yaml"


def problems(data: object, base: Path = Path()) -> list[str]:
    with pytest.raises(ConfigError) as info:
        expand(parse_config(data, base))
    return info.value.problems


def test_quickstart_expands_to_a_full_plan(tmp_path: Path) -> None:
    data = yaml.safe_load(QUICKSTART.read_text())
    data["output_dir"] = str(tmp_path)
    plan = expand(parse_config(data, QUICKSTART.parent))
    assert plan.elements == ["Si"]
    assert plan.oracle.qe is not None
    assert plan.oracle.qe.pseudopotentials == {"Si": "Si.pbe-rrkj.UPF"}
    assert plan.oracle.qe.ecutwfc >= 25
    assert plan.teacher.foundation == "chgnet" and not plan.teacher.pretrain  # offline screen
    assert plan.pool.melt_temperature is None  # the teacher itself is trained from scratch
    assert len(plan.pool.temperatures) == 3
    assert all(0 < t < 1687 for t in plan.pool.temperatures)  # below Si's melting point
    assert plan.a_ref == pytest.approx(5.43)
    written = plan.write(tmp_path / "plan.yaml")
    assert yaml.safe_load(written.read_text())["elements"] == ["Si"]


def test_structure_shorthand_and_defaults_choose_a_pseudopotential() -> None:
    plan = expand(parse_config({"structure": "Cu", "teacher": {"foundation": "none"}}))
    assert plan.oracle.qe is not None
    assert plan.oracle.qe.pseudopotentials["Cu"].startswith("Cu")
    assert any("ecutwfc" in note for note in plan.notes)


def test_each_problem_is_one_line_naming_the_field() -> None:
    lines = problems(
        {
            "name": "bad run",
            "structure": {"formula": "Xx2", "a": "abc"},
            "sampling": {"n_train": -1, "foo": 3},
            "teacher": {"foundaton": "none"},
        }
    )
    joined = "\n".join(lines)
    assert len(lines) == 6
    assert all("\n" not in line for line in lines)
    assert "structure.formula: got 'Xx2': unknown element(s) Xx" in joined
    assert "structure.a: got 'abc'" in joined and "lattice constant" in joined
    assert "sampling.n_train: got -1" in joined
    assert "sampling.foo: unknown key; remove it or use one of: n_candidates" in joined
    assert "teacher.foundaton: unknown key" in joined and "foundation" in joined


def test_missing_structure_file_is_named(tmp_path: Path) -> None:
    (line,) = problems({"structure": {"file": "nothere.cif"}}, tmp_path)
    assert line.startswith("structure.file:") and "does not exist" in line


def test_missing_pseudopotential_names_element_and_fix(tmp_path: Path) -> None:
    (line,) = problems({"structure": "Si", "dft": {"pseudo_dir": str(tmp_path)}})
    assert line.startswith("dft.pseudopotentials.Si:") and "pseudo_dir" in line
    (line,) = problems({"structure": "Si", "dft": {"pseudopotentials": {"Si": "nope.UPF"}}})
    assert "nope.UPF" in line and "no such file" in line


def test_unknown_oracle_is_named() -> None:
    (line,) = problems({"structure": "Cu", "oracle": {"engine": "ase.calculators.nope.X"}})
    assert line.startswith("oracle.engine:")


def test_validate_cli_prints_errors_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("structure:\n  formula: Si\n  a: -1\n")
    assert main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: structure.a: got -1") and "Traceback" not in err
    assert main(["validate", str(QUICKSTART)]) == 0
    assert "is valid" in capsys.readouterr().out


def test_unreadable_yaml_and_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("structure: [unclosed\n")
    assert main(["validate", str(broken)]) == 1
    assert "not valid YAML" in capsys.readouterr().err
    assert main(["validate", str(tmp_path / "absent.yaml")]) == 1
    assert "no such config file" in capsys.readouterr().err
