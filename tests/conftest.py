"""Shared fixtures: a miniature pipeline run on a cheap ASE oracle (EMT copper).

The run goes through the real stack (MACE training, ASE MD, pacemaker fits,
active set, embedded store); only the ground truth is EMT instead of pw.x, so
several test modules can inspect one ~1-minute run.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from .services import fireworks_site, mongo_server, slurm_cluster  # noqa: F401  (fixtures)

warnings.filterwarnings("ignore", category=FutureWarning)

MINI_EMT: dict[str, Any] = {
    "name": "cu-emt-mini",
    "seed": 3,
    "structure": {"formula": "Cu", "crystal": "fcc", "a": 3.6},
    "oracle": {"engine": "ase.calculators.emt.EMT"},
    "sampling": {"n_candidates": 16, "n_train": 8, "n_test": 4, "supercell_atoms": 4},
    "teacher": {"foundation": "none", "max_num_epochs": 30, "num_channels": 8},
    "pool": {
        "temperatures": [300, 800],
        "steps": 100,
        "interval": 10,
        "volume_scales": [0.97, 1.03],
        "supercell_atoms": 4,
    },
    "ace": {"n_functions": 20, "max_iter": 80, "delta_max_iter": 40},
}


def write_config(folder: Path, data: dict[str, Any], name: str = "config.yaml") -> Path:
    """Write a config dict as YAML and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="session")
def emt_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the miniature EMT pipeline once; give its summary, folders and store."""
    from pyacemaker.runner import run

    root = tmp_path_factory.mktemp("emt_run")
    config = write_config(root, {**MINI_EMT, "output_dir": str(root / "out")})
    summary = run(config, store_path=root / "store")
    return {
        "summary": summary,
        "root": root,
        "out": root / "out",
        "store": root / "store",
        "config": config,
    }
