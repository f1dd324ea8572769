"""The molecular pipeline: an SN2 reaction (Cl- + CH3I) with GFN2-xTB as the oracle.

The end-to-end test runs the whole chain (oracle CI-NEB, normal-mode and path sampling,
DIRECT selection, labels, isolated-atom zero, ACE fit, active set, reaction validation,
report) on the tutorial's two structures with a smaller budget, and compares the
potential's own CI-NEB barrier and reaction energy with the oracle's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pyacemaker.config.errors import ConfigError
from pyacemaker.config.reaction import load_reaction_config

TUTORIAL = Path(__file__).resolve().parents[1] / "workflows" / "tutorial_sn2"


def _config(tmp_path: Path, **overrides: object) -> Path:
    data: dict[str, object] = {
        "name": "sn2-test",
        "seed": 1,
        "output_dir": str(tmp_path / "run"),
        "reaction": {"reactant": str(TUTORIAL / "reactant.xyz"),
                     "product": str(TUTORIAL / "product.xyz"), "charge": -1},
        "oracle": {"engine": "tblite.ase.TBLite", "kwargs": {"method": "GFN2-xTB", "verbosity": 0}},
    }  # fmt: skip
    data.update(overrides)
    path = tmp_path / "sn2.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_reaction_config(path)
    return info.value.problems


def test_bad_reaction_input_is_one_line_each(tmp_path: Path) -> None:
    """Impossible spin, mismatched atoms and pw.x (not wired) are refused with the fix."""
    reaction = {"reactant": str(TUTORIAL / "reactant.xyz"),
                "product": str(TUTORIAL / "product.xyz"), "charge": -1, "multiplicity": 2}
    (line,) = _problems(_config(tmp_path, reaction=reaction))
    assert line.startswith("reaction.multiplicity: got 2: ")
    assert "multiplicity 2 is impossible with 80 electrons" in line
    short = tmp_path / "short.xyz"
    short.write_text("\n".join((TUTORIAL / "product.xyz").read_text().splitlines()[:-1]))
    short.write_text(short.read_text().replace("6\n", "5\n", 1))
    reaction = {**reaction, "multiplicity": 1, "product": str(short)}
    (line,) = _problems(_config(tmp_path, reaction=reaction))
    assert line.startswith("reaction.product: ") and "in another order or number" in line
    (line,) = _problems(_config(tmp_path, oracle={"engine": "qe"}))
    assert line.startswith("oracle: ") and "tblite.ase.TBLite" in line
