#!/usr/bin/env bash
# Set up (idempotent) and run the quickstart end to end on the embedded store:
# silicon from a formula to a validated, DFT-corrected ACE potential.
# Exit status is pyacemaker run's: 0 verdict PASS, 3 completed with verdict FAIL,
# 1 a stage failed (or the config was refused).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
status=0
"${PYACEMAKER_VENV:-$ROOT/.venv}/bin/pyacemaker" run workflows/quickstart/si.yaml || status=$?
case "$status" in
  0) echo "quickstart: completed, verdict PASS" ;;
  3) echo "quickstart: completed, verdict FAIL (the failed checks are listed above and in summary.txt)" ;;
  *) echo "quickstart: a stage failed (exit $status): 'pyacemaker status' shows which" ;;
esac
exit "$status"
