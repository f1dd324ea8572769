#!/usr/bin/env bash
# Set up (idempotent) and run the quickstart end to end on the embedded store:
# silicon from a formula to a validated, DFT-corrected ACE potential.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
"${PYACEMAKER_VENV:-$ROOT/.venv}/bin/pyacemaker" run workflows/quickstart/si.yaml
