"""Self-healing of pw.x: custodian error handlers, one per failure mode (the policy).

Each handler is a ``custodian.custodian.ErrorHandler``: ``check(directory)`` reads the
calculation folder (pw.x output, input and :data:`~pyacemaker.dft.qe.EXIT_FILE`) and
says whether its failure happened; ``correct(directory)`` returns custodian's
``{"errors": [...], "actions": [...]}`` with one ``_set`` action on the pw.x input, or
``"actions": None`` when its ladder is exhausted. Handlers never run pw.x and never
touch :class:`~pyacemaker.dft.qe.PwCalculator`; the loop that reruns pw.x with the
corrected settings is :func:`pyacemaker.dft.healing.run_with_handlers`.

Ladders: every handler walks its own list of rungs, one rung per correction. A rung
computes its change from the values in the input that failed (so a second job that
starts from escalated settings keeps escalating, e.g. halves ``mixing_beta`` again)
and is skipped when it has nothing left to change. The table of rungs is in
``docs/dft.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from custodian.custodian import ErrorHandler

from pyacemaker.dft.qe import (
    EXIT_FILE,
    INPUT_FILE,
    OUTPUT_FILE,
    QESettings,
    killed_by_signal,
    nest_pw_input,
    read_namelists,
)

Rung = Callable[[dict[str, Any], Path], dict[str, Any]]
"""Current pw.x input (flat, lower-case keys) and folder → changes (empty: skip rung)."""

ALGORITHMS = ("david", "cg", "ppcg")  # Davidson: fastest; CG: robust; PPCG: another route
_PW_DEFAULTS: dict[str, Any] = {
    "diagonalization": "david",
    "mixing_beta": 0.7,
    "mixing_mode": "plain",
    "mixing_ndim": 8,
    "electron_maxstep": 100,
    "diago_david_ndim": 2,
    "diago_cg_maxiter": 100,
    "diago_ppcg_maxiter": 100,
    "degauss": 0.0,
    "occupations": "fixed",
}
NEGATIVE_CHARGE_FRACTION = 1e-3  # of the valence charge, in the last SCF iteration


def read_pw_input(directory: str | Path) -> dict[str, Any]:
    """The pw.x input of the folder as one flat dict, pw.x defaults filled in."""
    flat = dict(_PW_DEFAULTS)
    for values in read_namelists(directory).values():
        flat.update({key.lower(): value for key, value in values.items()})
    return flat


def read_output(directory: str | Path) -> str:
    """The pw.x output text of the folder ('' when there is none)."""
    try:
        return (Path(directory) / OUTPUT_FILE).read_text(errors="replace")
    except OSError:
        return ""


def last_iteration(output: str) -> str:
    """Text from the last SCF iteration on: warnings there still affect the result."""
    return output[output.rfind("iteration #") :]


class PwErrorHandler(ErrorHandler):
    """A custodian handler for one pw.x failure, healed by walking a ladder of rungs."""

    is_monitor = False
    raise_on_max = False
    ladder: ClassVar[tuple[Rung, ...]] = ()
    max_num_corrections: int | None = None

    def __init__(self) -> None:
        self.rung = 0
        self.max_num_corrections = len(self.ladder)

    def detect(self, output: str, directory: Path) -> str | None:
        """The error found in the folder, as one line, or ``None``."""
        raise NotImplementedError

    def check(self, directory: str | Path = "./") -> bool:
        """True if this handler's failure shows in the folder's output."""
        folder = Path(directory)
        return self.detect(read_output(folder), folder) is not None

    def correct(self, directory: str | Path = "./") -> dict[str, Any]:
        """Next rung with something to change: custodian's errors/actions dict."""
        folder = Path(directory)
        errors = [self.detect(read_output(folder), folder) or type(self).__name__]
        current = read_pw_input(folder)
        while self.rung < len(self.ladder):
            changes = self.ladder[self.rung](current, folder)
            self.rung += 1
            if changes:
                return {
                    "errors": errors,
                    "actions": [{"dict": INPUT_FILE, "action": {"_set": changes}}],
                }
        return {"errors": errors, "actions": None}


# --- rungs ------------------------------------------------------------------------------


def more_scf_steps(current: dict[str, Any], _folder: Path) -> dict[str, Any]:
    """Let a slowly converging SCF run longer: at least 200 steps, doubling, cap 1000."""
    steps = int(current["electron_maxstep"])
    new = min(max(200, 2 * steps), 1000)
    return {"electron_maxstep": new} if new > steps else {}


def lower_mixing_beta(current: dict[str, Any], _folder: Path) -> dict[str, Any]:
    """Halve the density mixing (damps charge sloshing), not below 0.05."""
    beta = float(current["mixing_beta"])
    new = round(max(0.05, beta / 2), 4)
    return {"mixing_beta": new} if new < beta else {}


def local_tf_mixing(current: dict[str, Any], _folder: Path) -> dict[str, Any]:
    """Thomas-Fermi screening local to each region: for inhomogeneous cells (surfaces)."""
    if current["mixing_mode"] == "local-TF":
        return {}
    return {"mixing_mode": "local-TF", "mixing_ndim": max(12, int(current["mixing_ndim"]))}


def more_smearing(current: dict[str, Any], _folder: Path) -> dict[str, Any]:
    """Fixed occupations become smearing; existing smearing doubles (cap 0.05 Ry)."""
    if current["occupations"] != "smearing":
        return {"occupations": "smearing", "smearing": "mv", "degauss": 0.01}
    degauss = float(current["degauss"])
    new = min(0.05, 2 * degauss)
    return {"degauss": new} if new > degauss else {}


def next_algorithm(current: dict[str, Any], _folder: Path) -> dict[str, Any]:
    """Next diagonalisation in david → cg → ppcg (nothing after ppcg)."""
    algorithm = str(current["diagonalization"]).lower()
    position = ALGORITHMS.index(algorithm) if algorithm in ALGORITHMS else -1
    if position + 1 >= len(ALGORITHMS):
        return {}
    return {"diagonalization": ALGORITHMS[position + 1]}


def bigger_diagonalisation(current: dict[str, Any], _folder: Path) -> dict[str, Any]:
    """More room for the current algorithm: Davidson subspace (cap 8) or CG/PPCG steps."""
    algorithm = str(current["diagonalization"]).lower()
    if algorithm == "david":
        ndim = int(current["diago_david_ndim"])
        return {"diago_david_ndim": min(8, max(4, 2 * ndim))} if ndim < 8 else {}
    key = "diago_ppcg_maxiter" if algorithm == "ppcg" else "diago_cg_maxiter"
    steps = int(current[key])
    new = min(max(100, 2 * steps), 400)
    return {key: new} if new > steps else {}


def denser_charge_grid(current: dict[str, Any], _folder: Path) -> dict[str, Any]:
    """Raise ``ecutrho`` to the next of 8, 12, 16 × ``ecutwfc`` (augmentation charges)."""
    ecutwfc, ecutrho = float(current["ecutwfc"]), float(current["ecutrho"])
    new = next((dual * ecutwfc for dual in (8, 12, 16) if dual * ecutwfc > ecutrho + 1e-6), None)
    return {} if new is None else {"ecutrho": new}


def restart(_current: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Rerun: from the saved charge density if pw.x left one, with twice a walltime."""
    changes: dict[str, Any] = {"restart_mode": "from_scratch"}
    if (folder / "pwscf.save" / "charge-density.dat").is_file():
        changes["startingpot"] = "file"
    status = exit_record(folder)
    if status.get("walltime"):
        changes["walltime"] = 2.0 * float(status["walltime"])
    return changes


def exit_record(folder: Path) -> dict[str, Any]:
    """Exit status of the last run, and the walltime that killed it if any."""
    try:
        words = (folder / EXIT_FILE).read_text().split()
    except OSError:
        return {}
    record: dict[str, Any] = {"status": int(words[0])} if words else {}
    if len(words) > 2 and words[1] == "walltime":
        record["walltime"] = float(words[2])
    return record


# --- handlers ---------------------------------------------------------------------------


class ScfConvergenceHandler(PwErrorHandler):
    """``convergence NOT achieved``: more steps, gentler mixing, local-TF, smearing."""

    ladder = (
        more_scf_steps,
        lower_mixing_beta,
        local_tf_mixing,
        lower_mixing_beta,
        more_smearing,
        more_smearing,
    )

    def detect(self, output: str, directory: Path) -> str | None:
        """pw.x prints this line and exits with status 2 (still printing JOB DONE)."""
        found = re.search(r"convergence NOT achieved after\s+\d+\s+iterations", output)
        return found.group(0) if found else None


class CholeskyHandler(PwErrorHandler):
    """S matrix not positive definite / Cholesky failure: change the diagonaliser."""

    ladder = (next_algorithm, next_algorithm)
    _PATTERN = re.compile(
        r"S matrix not positive definite|problems computing cholesky|Cholesky failed", re.I
    )

    def detect(self, output: str, directory: Path) -> str | None:
        """The Davidson subspace became linearly dependent (cdiaghg/rdiaghg errors)."""
        found = self._PATTERN.search(output)
        return found.group(0) if found else None


class EigenvalueHandler(PwErrorHandler):
    """Eigenvalues not converged: more diagonalisation room, then another algorithm."""

    ladder = (bigger_diagonalisation, next_algorithm, bigger_diagonalisation, next_algorithm)

    def detect(self, output: str, directory: Path) -> str | None:
        """The fatal ``too many bands are not converged``, or warnings that stalled the SCF.

        Warnings alone are normal (early iterations, or the last one of a converged
        SCF whose threshold is already tiny) and would cost reruns for nothing; in the
        last iteration of an SCF that did not converge they are the likely cause, so
        this handler (before the SCF one) gets the first try.
        """
        if "too many bands are not converged" in output:
            return "too many bands are not converged"
        if "convergence NOT achieved" not in output:
            return None
        found = re.search(r"c_bands:\s+\d+ eigenvalues not converged", last_iteration(output))
        return found.group(0) if found else None


class ChargeHandler(PwErrorHandler):
    """Negative or wrong charge density: a denser charge grid (``ecutrho``)."""

    ladder = (denser_charge_grid, denser_charge_grid, denser_charge_grid)

    def detect(self, output: str, directory: Path) -> str | None:
        """``charge is wrong``, or negative charge above 0.1 % of the valence charge.

        Negative density comes from augmentation charges (ultrasoft/PAW) that the
        density grid cannot represent; a little is normal, a lot corrupts the energy.
        """
        if "charge is wrong" in output:
            return "charge is wrong"
        electrons = re.search(r"number of electrons\s*=\s*([\d.]+)", output)
        negative = re.findall(
            r"negative rho \(up,\s*down\):\s+([\d.Ee+-]+)\s+([\d.Ee+-]+)", last_iteration(output)
        )
        if electrons is None or not negative:
            return None
        amount = sum(float(x) for x in negative[-1])
        if amount <= NEGATIVE_CHARGE_FRACTION * float(electrons.group(1)):
            return None
        return f"negative charge density {amount:.3g} e (of {float(electrons.group(1)):g})"


class KilledHandler(PwErrorHandler):
    """Killed by a signal or the walltime: rerun (from saved data if any), twice."""

    ladder = (restart, restart)

    def detect(self, output: str, directory: Path) -> str | None:
        """Exit status of an outside signal, or pw.x's own ``Maximum CPU time exceeded``."""
        record = exit_record(directory)
        if record.get("walltime"):
            return f"killed at the walltime of {record['walltime']:g} s"
        if killed_by_signal(record.get("status")):
            return f"killed by a signal (exit status {record['status']})"
        return "Maximum CPU time exceeded" if "Maximum CPU time exceeded" in output else None


def default_handlers() -> list[PwErrorHandler]:
    """Fresh handlers in priority order: the first that fires and can act is applied.

    A kill hides every other symptom, so it comes first; diagonalisation failures come
    before SCF ones because a broken diagonaliser also stalls the SCF.
    """
    return [
        KilledHandler(),
        CholeskyHandler(),
        EigenvalueHandler(),
        ChargeHandler(),
        ScfConvergenceHandler(),
    ]


def apply_changes(settings: QESettings, changes: dict[str, Any]) -> QESettings:
    """Settings with a handler's changes: settings fields by name, the rest as pw.x input.

    Fields (``mixing_beta``, ``ecutrho``, ``walltime``, ...) keep the provenance string
    and the checks of :class:`QESettings` meaningful; other keywords go to
    ``extra_input`` (nested by namelist, replacing any earlier value).
    """
    fields = {k: v for k, v in changes.items() if k in QESettings.model_fields}
    extra = nest_pw_input(settings.extra_input)
    for section, values in nest_pw_input(
        {k: v for k, v in changes.items() if k not in fields}
    ).items():
        extra.setdefault(section, {}).update(values)
    data = {**settings.model_dump(), **fields, "extra_input": extra}
    return QESettings.model_validate(data)
