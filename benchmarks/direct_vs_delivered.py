"""Direct ACE vs the teacher route on the tests' miniature EMT pipeline, per metal and seed.

    python benchmarks/direct_vs_delivered.py --element Al --a 4.05 --seeds 3 4 5 \
        --out /tmp/dvd

runs tests/conftest.py's MINI_EMT config (EMT oracle, small MACE teacher, small ACE)
for each seed and prints a markdown table of held-out DFT (EMT) errors of the final
(teacher-route) ACE, the direct ACE, the teacher-only ACE and the teacher, and which
one the run delivered; docs/benchmarks.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("final_ace", "direct_ace", "teacher_only_ace", "teacher")


def run_one(element: str, a: float, crystal: str, seed: int, out: Path) -> dict[str, object]:
    """One miniature run (resumed if its folder exists); its metrics.json."""
    sys.path.insert(0, str(ROOT))
    from pyacemaker.runner import run
    from tests.conftest import MINI_EMT

    folder = out / f"{element.lower()}-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        **MINI_EMT, "name": f"{element.lower()}-emt-mini", "seed": seed,
        "structure": {"formula": element, "crystal": crystal, "a": a},
        "output_dir": str(folder / "out"),
    }  # fmt: skip
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    summary = run(folder / "config.yaml", store_path=folder / "store")
    metrics: dict[str, object] = json.loads(Path(summary.metrics_file).read_text())
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--element", default="Al")
    parser.add_argument("--a", type=float, default=4.05, help="lattice parameter (Å)")
    parser.add_argument("--crystal", default="fcc")
    parser.add_argument("--seeds", type=int, nargs="+", default=[3])
    parser.add_argument("--out", type=Path, default=Path("runs/direct_vs_delivered"))
    args = parser.parse_args()
    print("| metal | seed | " + " | ".join(f"{k} E / F" for k in KEYS) + " | delivered |")
    print("|---" * (len(KEYS) + 3) + "|")
    for seed in args.seeds:
        validation = run_one(args.element, args.a, args.crystal, seed, args.out)["validation"]
        assert isinstance(validation, dict)
        errors = validation["test_errors"]
        cells = [
            f"{errors[k]['energy_rmse_mev']:.2f} / {errors[k]['force_rmse']:.4f}" for k in KEYS
        ]
        delivered = validation["delivery"]["delivered"]
        print(f"| {args.element} | {seed} | " + " | ".join(cells) + f" | {delivered} |")


if __name__ == "__main__":
    main()
