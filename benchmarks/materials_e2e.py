"""The end-to-end materials tests' configs over several seeds: the spread their bounds rest on.

    python benchmarks/materials_e2e.py nial --seeds 1 2 3 4 5 --out /tmp/e2e
    python benchmarks/materials_e2e.py sic --seeds 1 2 3 4 5 --out /tmp/e2e

runs tests/test_materials_e2e.py's NIAL (EMT Ni-Al at three compositions, with
exploration) or SIC (3C-SiC on pw.x) config with ``seed: N`` for each seed (a finished
run is resumed, i.e. only summarised) and prints one markdown row per seed: wall time,
DFT calls, which ACE was delivered, its held-out energy (meV/atom) / force (eV/Å) RMSE per
phase, and the direct and teacher-route ACE overall. docs/multi_element.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def run_one(name: str, seed: int, out: Path) -> tuple[dict[str, Any], float]:
    """One run of the test config ``name`` with ``seed``; its metrics.json and wall time (s)."""
    sys.path.insert(0, str(ROOT))
    from pyacemaker.runner import run
    from tests import test_materials_e2e

    folder = out / f"{name}-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    config = {**getattr(test_materials_e2e, name.upper()), "seed": seed}
    config["output_dir"] = str(folder / "out")
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    summary = run(folder / "config.yaml", store_path=folder / "store")
    metrics: dict[str, Any] = json.loads(Path(summary.metrics_file).read_text())
    return metrics, time.perf_counter() - start


def _pair(m: dict[str, float] | None) -> str:
    """E / F of one model; a candidate whose route failed (the run delivered without it)."""
    return f"{m['energy_rmse_mev']:.2f} / {m['force_rmse']:.4f}" if m else "failed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", choices=["nial", "sic"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--out", type=Path, default=Path("runs/materials_e2e"))
    args = parser.parse_args()
    print("| seed | wall (s) | DFT calls | delivered | held-out per phase E / F | direct | final |")
    print("|---" * 7 + "|")
    for seed in args.seeds:
        metrics, wall = run_one(args.config, seed, args.out)
        v = metrics["validation"]
        phases = "; ".join(f"{k}: {_pair(m)}" for k, m in v["phase_errors"].items())
        errors = v["test_errors"]
        print(
            f"| {seed} | {wall:.0f} | {metrics['dft_calls']} | {v['delivery']['delivered']} | "
            f"{phases} | {_pair(errors.get('direct_ace'))} | {_pair(errors.get('final_ace'))} |"
        )


if __name__ == "__main__":
    main()
