"""Property-based input checks: whatever a user writes, ``validate`` answers in one line.

Random mutations of a valid config (NaN, inf, negatives, huge numbers, wrong types,
unknown keys) and random structure files (random bytes, empty, truncated extxyz / CIF /
POSCAR, 2-D or cell-less cells, unknown elements, overlapping atoms) go through
``pyacemaker validate`` in-process: never a traceback, never a hang (hypothesis
deadline), exit code 1 with only ``error:`` lines for every input known to be bad, and
exit code 0 only when the input is valid. A few go through the real CLI subprocess.
"""

from __future__ import annotations

import io
import math
import subprocess
import sys
import tempfile
import time
import typing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from ase.build import bulk
from ase.io import write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from pyacemaker.cli import main
from pyacemaker.config.schema import CRYSTALS, RunConfig

VALID: dict[str, Any] = {
    "name": "fuzz",
    "structure": {"formula": "Cu"},
    "oracle": {"engine": "ase.calculators.emt.EMT"},
    "teacher": {"foundation": "none"},
}
FUZZ = settings(
    max_examples=40,
    deadline=timedelta(seconds=10),  # a hang (the old a: 1e-6 took > 30 s) fails here
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples on every run and machine
    database=None,  # no .hypothesis folder in the checkout
)


def _numeric_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Dotted paths of every number (or list of numbers) field of the config schema."""
    out = []
    for name, field in model.model_fields.items():
        args = set(typing.get_args(field.annotation)) | {field.annotation}
        nested = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if nested and name != "structure":
            out += _numeric_paths(nested[0], (*prefix, name))
        elif args & {float, int} and field.annotation is not bool:
            out.append((*prefix, name))
    return out


NUMERIC = [*_numeric_paths(RunConfig), ("structure", "a")]
NOT_A_NUMBER = [math.nan, math.inf, -math.inf, "abc", [1, 2], {"x": 1}]


def run_validate(data: Any, folder: Path) -> tuple[int, list[str]]:
    """Exit code and stderr lines of ``pyacemaker validate`` on ``data`` written as YAML."""
    path = folder / "config.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    err, out = io.StringIO(), io.StringIO()
    old = sys.stderr, sys.stdout
    sys.stderr, sys.stdout = err, out
    try:
        code = main(["validate", str(path)])  # any exception here fails the test
    finally:
        sys.stderr, sys.stdout = old
    return code, err.getvalue().splitlines()


def assert_refused(code: int, lines: list[str]) -> None:
    assert code == 1, lines
    assert lines and all(line.startswith("error: ") for line in lines), lines


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = yaml.safe_load(yaml.safe_dump(data))
    node = out
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return out


def test_the_valid_config_validates(tmp_path: Path) -> None:
    code, lines = run_validate(VALID, tmp_path)
    assert code == 0, lines


@FUZZ
@given(path=st.sampled_from(NUMERIC), value=st.sampled_from(NOT_A_NUMBER))
def test_non_numbers_in_number_fields_are_one_line_errors(
    tmp_path: Path, path: tuple[str, ...], value: Any
) -> None:
    assert_refused(*run_validate(_set(VALID, path, value), tmp_path))


@FUZZ
@given(
    path=st.sampled_from(NUMERIC),
    value=st.one_of(
        st.integers(-(10**30), 10**30),
        st.floats(allow_nan=True, allow_infinity=True),
        st.none(), st.booleans(), st.text(max_size=8),
    ),
)  # fmt: skip
def test_any_value_in_any_number_field_never_crashes(
    tmp_path: Path, path: tuple[str, ...], value: Any
) -> None:
    code, lines = run_validate(_set(VALID, path, value), tmp_path)
    if code == 1:
        assert_refused(code, lines)
    else:  # accepted: then the schema itself must accept it
        assert code == 0
        assert not (isinstance(value, float) and not math.isfinite(value))


@FUZZ
@given(
    section=st.sampled_from(["", "structure", "sampling", "dft", "ace", "pool", "teacher"]),
    key=st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12),
)
def test_unknown_keys_are_refused(tmp_path: Path, section: str, key: str) -> None:
    fields = RunConfig.model_fields
    model = fields[section].annotation if section else RunConfig
    assert isinstance(model, type)
    names = getattr(model, "model_fields", {})
    if key in names:
        return
    data = _set(VALID, (section, key) if section else (key,), 1)
    assert_refused(*run_validate(data, tmp_path))


@FUZZ
@given(text=st.text(max_size=40))
def test_any_yaml_text_never_crashes(tmp_path: Path, text: str) -> None:
    code, lines = run_validate(text, tmp_path)
    assert code == 1 and all(line.startswith("error: ") for line in lines)  # no 'structure'


@FUZZ
@given(
    formula=st.one_of(
        st.text("ABCGHNOSTabilnrsu0123", min_size=1, max_size=6),
        st.sampled_from(["He", "TiO2", "GaAs", "Ni3Al", "SrTiO3", "ZnO", "CaF2", "Fe3O4"]),
    ),
    crystal=st.one_of(st.none(), st.sampled_from([*CRYSTALS, "bogus"])),
    a=st.one_of(st.none(), st.floats(-10, 100)),
)
def test_any_formula_prototype_and_lattice_never_crash(
    tmp_path: Path, formula: str, crystal: str | None, a: float | None
) -> None:
    structure = {"formula": formula, "crystal": crystal, "a": a}
    code, lines = run_validate({**VALID, "structure": structure}, tmp_path)
    if code == 1:
        assert_refused(code, lines)
    else:
        assert code == 0 and (a is None or 1 <= a <= 50)


# ------------------------------------------------------------------ structure files


def _texts() -> dict[str, str]:
    """A valid 2-atom cell in each format, to truncate and corrupt."""
    atoms = bulk("Cu", "fcc", a=3.6) * (2, 1, 1)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, name in (("extxyz", "s.extxyz"), ("cif", "s.cif"), ("vasp", "POSCAR")):
            write(Path(tmp) / name, atoms, format=fmt)
            out[name] = (Path(tmp) / name).read_text()
    return out


TEXTS = _texts()
NAMES = [*TEXTS, "s.xyz", "s.dat"]


def validate_file(folder: Path, name: str, content: bytes | str) -> tuple[int, list[str]]:
    target = folder / name
    target.write_bytes(content if isinstance(content, bytes) else content.encode())
    return run_validate({**VALID, "structure": {"file": name}}, folder)


@FUZZ
@given(name=st.sampled_from(NAMES), content=st.binary(max_size=300))
def test_random_bytes_are_one_line_errors(tmp_path: Path, name: str, content: bytes) -> None:
    assert_refused(*validate_file(tmp_path, name, content))


@FUZZ
@given(name=st.sampled_from(list(TEXTS)), fraction=st.floats(0.0, 1.0))
def test_truncated_files_never_crash(tmp_path: Path, name: str, fraction: float) -> None:
    text = TEXTS[name]
    code, lines = validate_file(tmp_path, name, text[: int(fraction * len(text))])
    if code == 1:
        assert_refused(code, lines)
    else:
        assert code == 0 and fraction > 0.5  # only a nearly complete file can still be valid


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "is empty"),
        ("2\nLattice=\"3.6 0 0 0 3.6 0 0 0 0\" pbc=\"T T F\"\nCu 0 0 0\nCu 1.8 1.8 0\n",
         "fewer than three lattice vectors"),
        ("2\n\nCu 0 0 0\nCu 1.8 1.8 0\n", "fewer than three lattice vectors"),
        ("2\nLattice=\"3.6 0 0 0 3.6 0 0 0 3.6\"\nCu 0 0 0\nCu 0.1 0 0\n", "apart"),
        ("1\nLattice=\"3.6 0 0 0 3.6 0 0 0 3.6\"\nXq 0 0 0\n", "cannot read"),
        ("1\nLattice=\"1e6 0 0 0 1e6 0 0 0 1e6\"\nCu 0 0 0\n", "per atom"),
        ("1\nLattice=\"nan 0 0 0 3 0 0 0 3\"\nCu 0 0 0\n", "NaN"),
    ],
)  # fmt: skip
def test_bad_cells_name_the_problem(tmp_path: Path, content: str, expected: str) -> None:
    code, lines = validate_file(tmp_path, "s.extxyz", content)
    assert_refused(code, lines)
    assert len(lines) == 1 and lines[0].startswith("error: structure.file:"), lines
    assert expected in lines[0], lines


@pytest.mark.parametrize(
    ("structure", "field"),
    [
        ({"formula": "He"}, "structure.crystal"),
        ({"formula": "Ni3Al", "crystal": "fcc"}, "structure.formula"),
        ({"formula": "Cu", "a": 1e-6}, "structure.a"),
        ({"formula": "Cu", "a": 1e6}, "structure.a"),
        ({"formula": "Cu", "a": 1.2}, "structure.a"),  # fused atoms
        ({"formula": "Fe3O4"}, "structure.crystal"),
        ({"alloy": {"elements": ["Ni", "Al"], "compositions": [0.3]}}, "structure.alloy"),
    ],
)
def test_bad_formulas_and_lattices_are_one_line_errors(
    tmp_path: Path, structure: dict[str, Any], field: str
) -> None:
    start = time.perf_counter()
    code, lines = run_validate({**VALID, "structure": structure}, tmp_path)
    assert_refused(code, lines)
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}"), lines
    assert time.perf_counter() - start < 5  # in-process, imports warm: milliseconds


def test_the_cli_refuses_bad_input_without_a_traceback(tmp_path: Path) -> None:
    cases = [
        ({**VALID, "dft": {"kspacing": math.inf}}, 1),
        ({**VALID, "structure": "TiO2"}, 0),
    ]
    (tmp_path / "bin.cif").write_bytes(bytes(range(256)))
    cases.append(({**VALID, "structure": {"file": "bin.cif"}}, 1))
    for data, expected in cases:
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pyacemaker.cli", "validate", str(tmp_path / "c.yaml")],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        took = time.perf_counter() - start
        assert done.returncode == expected, done.stderr
        assert "Traceback" not in done.stderr
        if expected:
            assert all(line.startswith("error: ") for line in done.stderr.splitlines())
        # about 1.5 s on an idle 2-core machine (imports); 5 agents sharing it: below 20 s
        assert took < 20, took


