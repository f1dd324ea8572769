#!/usr/bin/env bash
# Set up (idempotent) and run the quality gates and the whole test suite:
# ruff, mypy --strict on src/, then pytest including the slow end-to-end test.
# PYACEMAKER_FAST=1 skips tests marked slow.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
VENV="${PYACEMAKER_VENV:-$ROOT/.venv}"
echo "[test] ruff"; "$VENV/bin/ruff" check src tests
echo "[test] mypy --strict src"; "$VENV/bin/mypy" src
marker=()
[ "${PYACEMAKER_FAST:-0}" = "1" ] && marker=(-m "not slow")
echo "[test] pytest"
# Tests get their own store so they never touch a user's ~/.pyacemaker, and their own
# temporary folder: pytest's default /tmp/pytest-of-USER keeps only the 3 newest runs, so a
# second pytest on the machine would delete this run's files (fixture runs) under it.
PYACEMAKER_STORE="$(mktemp -d)" "$VENV/bin/python" -m pytest -q "${marker[@]}" \
  --durations=15 --basetemp="$(mktemp -d)/pytest" tests
