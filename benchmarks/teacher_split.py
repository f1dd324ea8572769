"""The MACE teacher's validation split on a tiny DFT set: 10 % held out vs none.

Usage: python benchmarks/teacher_split.py RUN_DIR OUT_DIR SEED [SEED ...]

RUN_DIR is a finished pw.x run (e.g. the quickstart's runs/si-quickstart, read only).
Per seed, two teachers with the quickstart's teacher settings (16 channels, L = 0,
batch 2, 125 epochs) are trained from scratch on its 16 DFT training cells:
``held10`` (the default ``valid_fraction`` 0.1: two cells held out for MACE's validation
and checkpoint choice) and ``all`` (``valid_fraction`` 0: every cell trains, the training
set validates). Both are scored on the run's held-out DFT cells (test + EOS) and on the
training cells themselves. Prints one JSON line per teacher; docs/benchmarks.md quotes them.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from foundation_teacher import errors  # type: ignore[import-not-found]

from pyacemaker.data import read_dataset
from pyacemaker.surrogate.mace import mace_calculator, train_mace
from pyacemaker.surrogate.schemas import MaceTrainSettings

SPLITS = {"held10": 0.1, "all": 0.0}


def main(run: Path, out: Path, seeds: list[int]) -> None:
    train = read_dataset(run / "03_dft_train" / "labelled.xyz")
    held = read_dataset(run / "03_dft_test" / "labelled.xyz") + read_dataset(
        run / "03_dft_eos" / "labelled.xyz"
    )
    for seed in seeds:
        for name, fraction in SPLITS.items():
            settings = MaceTrainSettings.for_dataset(
                len(train), num_channels=16, max_L=0, batch_size=2, seed=seed,
                valid_fraction=fraction,
            )  # fmt: skip
            start = time.perf_counter()
            doc = train_mace(train, out / f"{name}_{seed}", settings)
            calc = mace_calculator(doc.model_path)
            row = {
                "split": name, "seed": seed, "seconds": time.perf_counter() - start,
                "held_out": errors(calc, held), "training_cells": errors(calc, train),
            }  # fmt: skip
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), [int(s) for s in sys.argv[3:]])
