# ASE ships py.typed but most of its API is unannotated; its calls return Any.
# mypy: disable-error-code="no-untyped-call"
"""The one place that talks to mace-torch: resolve a foundation, train, load, label.

No selection or learning policy lives here; callers decide what to train on and when.
Training runs ``mace_run_train`` in a subprocess (CPU, float64) so that a crash, a
memory blow-up or mace-torch's global state cannot take the pipeline down with it.

Surprises in mace-torch 0.3.16 that shaped this module:

* ``import mace`` sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` in ``os.environ`` for the
  whole process (and its children), silently turning off torch's safe ``weights_only``
  loading. torch/mace are therefore imported lazily, only by the functions that need
  them; loads here pass ``weights_only=False`` explicitly.
* ``MACECalculator(default_dtype="float64")`` calls ``torch.set_default_dtype`` for
  the whole process.
* ``MACECalculator(model_paths=<str>)`` treats the string as a glob pattern; a list
  of paths is used verbatim, so a list is passed.
* ``mace_run_train`` writes ``<name>.model`` (pickled ``nn.Module``) and tries
  ``<name>_compiled.model`` (TorchScript), swallowing compile errors. The plain file
  is the one to use: ``MACECalculator`` and ``--foundation_model`` both ``torch.load``
  it, and it always exists after a successful run.
* At the end of a run MACE reloads "the latest checkpoint" of its run tag from
  ``checkpoints/``; a stale checkpoint of an older, longer run in the same folder
  would be picked up instead of the new one. The run folder is therefore wiped first.
* MACE-MP-0 names are downloaded from GitHub by
  ``foundations_models.download_mace_mp_checkpoint``, which prints to stdout and,
  offline, raises ``urllib.error.URLError`` within seconds (``mace_mp`` turns that
  into ``RuntimeError: Model download failed and no local model found``).
* With a foundation given as a *path*, ``mace_run_train`` forces
  ``multiheads_finetuning`` off unless ``--pt_train_file`` is given; the flag is
  passed explicitly anyway (multihead fine-tuning crashes for one-element models).
* The model MACE saves is the checkpoint with the lowest *validation* loss, not the
  last epoch: with a one-structure validation set, extra epochs often change nothing.
* Training is bit-for-bit repeatable on CPU for a fixed ``--seed`` (also across
  thread counts). On a busy 2-core machine two torch threads made training ~7x
  slower than one, hence ``MaceTrainSettings.num_threads = 1`` (``OMP_NUM_THREADS``).
"""

from __future__ import annotations

import collections
import contextlib
import io
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from pyacemaker.data import (
    ENERGY_KEY,
    FORCES_KEY,
    STRESS_KEY,
    energy_force_rmse,
    write_dataset,
)
from pyacemaker.oracle import CalculatorOracle
from pyacemaker.progress import Progress, track
from pyacemaker.subprocesses import tied_to_parent
from pyacemaker.surrogate.schemas import (
    FinetunePlan,
    FoundationChoice,
    FoundationHow,
    MaceTrainSettings,
    TeacherDoc,
    has_foundation,
)

__all__ = [
    "MACE_MP_NAMES",
    "FoundationModelError",
    "MaceTrainError",
    "MaceTrainSettings",
    "TeacherDoc",
    "finetune_policy",
    "foundation_error",
    "mace_calculator",
    "resolve_device",
    "resolve_foundation",
    "resolve_foundation_choice",
    "teacher_oracle",
    "train_mace",
]

logger = logging.getLogger(__name__)

CONFIG_FIELD = "teacher.foundation"
RUN_NAME = "teacher"
# Accepted spellings of the MACE-MP-0 foundation models -> mace-torch's size key.
MACE_MP_NAMES: dict[str, str] = {
    **{f"mace-mp-0-{size}": size for size in ("small", "medium", "large")},
    **{size: size for size in ("small", "medium", "large")},
}
_PROGRESS = re.compile(r"(Initial|Epoch \d+):|Training complete|Saving model|ERROR")
_EPOCH = re.compile(r"Epoch (\d+):(?: head: \w+,)?")
_LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ (\w+): ")
_TAIL_LINES = 40


class FoundationModelError(ValueError):
    """``teacher.foundation`` names something that cannot be loaded; never ignored."""


class MaceTrainError(RuntimeError):
    """``mace_run_train`` failed; the message carries the end of its output."""


# ----------------------------------------------------------------- foundation models


def foundation_error(spec: str, reason: str) -> FoundationModelError:
    """One message with the field, the value, the reason and the fix."""
    return FoundationModelError(
        f"{CONFIG_FIELD} = {spec!r} cannot be used: {reason}. "
        f"Fix: set '{CONFIG_FIELD}: chgnet' (a universal model whose weights ship in its "
        f"package, so it works offline), '{CONFIG_FIELD}: none' to train the teacher from "
        "scratch on the DFT data, or the path of a local MACE .model file."
    )


def resolve_foundation(spec: str) -> Path | None:
    """Local foundation file for ``spec``, or None for "train from scratch".

    ``"none"`` → None; a MACE-MP-0 name (``mace-mp-0-small|medium|large`` or bare
    ``small|medium|large``) → the cached file, downloaded by mace-torch if missing;
    an existing file → itself. Anything else, or a file that does not load as a
    MACE model, raises :class:`FoundationModelError`: a teacher silently trained
    from scratch instead of fine-tuned would be a different experiment.
    """
    return resolve_foundation_choice(spec).path


def resolve_foundation_choice(spec: str) -> FoundationChoice:
    """Like :func:`resolve_foundation`, but also says how the file was found."""
    text = spec.strip()
    if not has_foundation(text):
        return FoundationChoice(spec=spec, path=None, how="none", detail="trained from scratch")
    size = MACE_MP_NAMES.get(text.lower())
    if size is not None:
        return _mace_mp_choice(spec, size)
    return _local_choice(spec)


def _mace_mp_cache_path(size: str) -> Path:
    """Return where mace-torch caches MACE-MP-0 ``size`` (mirrors its own naming rule)."""
    from mace.calculators.foundations_models import mace_mp_urls
    from mace.tools.utils import get_cache_dir

    name = "".join(c for c in os.path.basename(mace_mp_urls[size]) if c.isalnum() or c == "_")
    return Path(get_cache_dir()) / name


def _mace_mp_choice(spec: str, size: str) -> FoundationChoice:
    """Find (or download) the MACE-MP-0 file and check that it loads."""
    from mace.calculators.foundations_models import download_mace_mp_checkpoint

    expected = _mace_mp_cache_path(size)
    was_cached = expected.is_file()
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):  # mace prints its download progress
            path = Path(download_mace_mp_checkpoint(size))
    except Exception as exc:  # any download failure becomes one clear error
        raise foundation_error(
            spec,
            f"MACE-MP-0 '{size}' is not cached at {expected} and downloading it failed "
            f"({type(exc).__name__}: {exc}; offline?). A file downloaded elsewhere can be "
            "copied to that path",
        ) from exc
    finally:
        for line in printed.getvalue().splitlines():
            if line.strip():
                logger.info("mace-torch: %s", line.strip())
    _check_loads(spec, path)
    how: FoundationHow = "cached" if was_cached else "downloaded"
    return FoundationChoice(
        spec=spec, path=path, how=how, detail=f"MACE-MP-0 {size}, {how} at {path}"
    )


def _local_choice(spec: str) -> FoundationChoice:
    """Accept an existing local model file once it loads."""
    if not spec.strip():
        raise foundation_error(spec, "it is empty")
    path = Path(spec.strip()).expanduser()
    if not path.is_file():
        known = ", ".join(sorted(MACE_MP_NAMES))
        where = f"{path} is a directory" if path.is_dir() else f"no file exists at {path}"
        raise foundation_error(
            spec, f"it is not 'none', not a MACE-MP-0 name ({known}), and {where}"
        )
    path = path.resolve()
    _check_loads(spec, path)
    return FoundationChoice(spec=spec, path=path, how="local_file", detail=f"local file {path}")


def _check_loads(spec: str, path: Path) -> None:
    """Load the file once so a corrupt or foreign file fails now, not mid-training."""
    import torch

    try:
        with warnings.catch_warnings():  # the TorchScript case is reported below, clearly
            warnings.filterwarnings("ignore", message=".*looks like a TorchScript archive")
            model = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # unreadable for any reason: one clear error
        raise foundation_error(
            spec, f"{path} does not load as a MACE model ({type(exc).__name__}: {exc})"
        ) from exc
    if isinstance(model, torch.jit.ScriptModule):  # torch.load quietly jit-loads these
        raise foundation_error(
            spec,
            f"{path} is a compiled (TorchScript) model, which cannot be fine-tuned; "
            "use the plain .model file written next to it",
        )
    if not (isinstance(model, torch.nn.Module) and hasattr(model, "r_max")):
        raise foundation_error(spec, f"{path} holds a {type(model).__name__}, not a MACE model")


# -------------------------------------------------------------------------- training


def _train_args(
    settings: MaceTrainSettings,
    run_dir: Path,
    files: tuple[Path, Path, int],
    foundation: Path | None,
    finetune: FinetunePlan | None = None,
) -> list[str]:
    """Build the ``mace_run_train`` flags of one float64 run (on the resolved device).

    ``files`` is (train file, valid file, number of validation structures); the
    validation batch never exceeds the set, which MACE would warn about.
    """
    s = settings
    train, valid, n_valid = files
    args = [
        f"--name={RUN_NAME}", f"--work_dir={run_dir}", f"--seed={s.seed}",
        f"--train_file={train}", f"--valid_file={valid}",
        f"--device={resolve_device(s.device)}", "--default_dtype=float64", "--save_cpu",
        "--model=MACE",
        f"--num_channels={s.num_channels}", f"--max_L={s.max_L}", f"--r_max={s.r_max}",
        f"--num_interactions={s.num_interactions}", f"--correlation={s.correlation}",
        f"--E0s={s.e0s}", f"--energy_weight={s.energy_weight}",
        f"--forces_weight={s.forces_weight}", f"--batch_size={s.batch_size}",
        f"--valid_batch_size={max(1, min(s.batch_size, n_valid))}",
        f"--max_num_epochs={s.max_num_epochs}", f"--lr={s.lr}",
        f"--energy_key={ENERGY_KEY}", f"--forces_key={FORCES_KEY}", f"--stress_key={STRESS_KEY}",
    ]  # fmt: skip
    if s.stress_weight > 0:
        args += ["--loss=stress", "--compute_stress=True", f"--stress_weight={s.stress_weight}"]
    else:
        args += ["--loss=weighted"]
    if s.ema:
        args += ["--ema", f"--ema_decay={s.ema_decay}"]
    if foundation is not None:
        args += [f"--foundation_model={foundation}"]
        if finetune is not None and finetune.mode == "multihead":
            args += ["--multiheads_finetuning=True", f"--pt_train_file={finetune.replay}"]
        else:
            args += ["--multiheads_finetuning=False"]
    return args


def resolve_device(requested: str) -> str:
    """``auto`` → ``cuda`` when torch sees a GPU here, else ``cpu``; others unchanged."""
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def finetune_policy(
    choice: FoundationChoice, requested: str = "naive", replay_file: Path | None = None
) -> FinetunePlan:
    """Decide scratch / naive / multihead, falling back to naive with the reason.

    Multihead fine-tuning keeps a head trained on replay data of the foundation so the
    teacher does not forget it. It needs replay data (``replay_file``, or mace-torch's
    ``mp`` set for MACE-MP-0 names, downloaded on first use) and, in mace-torch 0.3.16,
    crashes for one-element foundations (``IndexError`` at an ``E0s ... .squeeze()``).
    """
    if choice.path is None:
        return FinetunePlan(mode="scratch", reason="no foundation model: trained from scratch")
    if requested != "multihead":
        return FinetunePlan(mode="naive", reason="naive fine-tuning (default)")
    n_elements = _foundation_elements(choice.path)
    if n_elements == 1:
        return FinetunePlan(
            mode="naive",
            reason="multihead requested, but mace-torch 0.3.16 crashes on one-element "
            "foundations; naive fine-tuning instead",
        )
    mace_mp = choice.how in ("cached", "downloaded")  # mace-torch's own replay set fits
    replay = str(replay_file) if replay_file else ("mp" if mace_mp else None)
    if replay is None:
        return FinetunePlan(
            mode="naive",
            reason="multihead requested without replay data for a local foundation "
            "(set teacher.replay_file); naive fine-tuning instead",
        )
    return FinetunePlan(mode="multihead", replay=replay, reason=f"multihead with replay {replay}")


def _foundation_elements(path: Path) -> int:
    """Number of elements the foundation model was trained on."""
    import torch

    model = torch.load(path, map_location="cpu", weights_only=False)
    return len(model.atomic_numbers)


def _forward(line: str, bar: Progress) -> None:
    """Epochs to the progress bar, milestones at INFO, warnings at WARNING, the rest at DEBUG."""
    text = line.rstrip()
    match = _LOG_PREFIX.match(text)
    body = text[match.end() :] if match else text
    epoch = _EPOCH.search(body)
    if epoch:
        bar.advance(int(epoch.group(1)) + 1 - bar.done, note=body[epoch.end() :].strip(" ,:"))
        logger.debug("mace: %s", body)
    elif _PROGRESS.search(body):
        logger.info("mace: %s", body)
    elif match and match.group(1) == "WARNING":
        logger.warning("mace: %s", body)
    else:
        logger.debug("mace: %s", body)


def _run_mace(args: list[str], log_path: Path, threads: int) -> None:
    """Run ``mace_run_train`` with this interpreter, stream its output, raise on failure."""
    command = [sys.executable, "-m", "mace.cli.run_train", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(threads)}
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
    with (
        log_path.open("w") as log,
        subprocess.Popen(
            tied_to_parent(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env=env,
        ) as proc,
    ):
        assert proc.stdout is not None
        log.write(f"# {shlex.join(command)}\n")  # MACE does not echo its arguments
        epochs = next((int(a.split("=")[1]) for a in args if a.startswith("--max_num_epochs=")), 0)
        with track("MACE training", epochs, "epoch") as bar:
            for line in proc.stdout:
                log.write(line)
                tail.append(line.rstrip())
                _forward(line, bar)
        code = proc.wait()
    if code != 0:
        raise MaceTrainError(
            f"mace_run_train exited with status {code}; full log: {log_path}\n" + "\n".join(tail)
        )


def _check_labelled(structures: Sequence[Atoms], what: str) -> None:
    """Refuse unlabelled structures: MACE drops a missing label from the loss, no error."""
    for i, atoms in enumerate(structures):
        if ENERGY_KEY not in atoms.info or FORCES_KEY not in atoms.arrays:
            raise ValueError(f"{what} structure {i} lacks {ENERGY_KEY} or {FORCES_KEY}")


def _split(
    train: Sequence[Atoms], valid: Sequence[Atoms] | None, settings: MaceTrainSettings
) -> tuple[list[Atoms], list[Atoms]]:
    """Training and validation sets; the split is ours (seeded) so we know the held-out set."""
    if valid is not None:
        if not valid:
            raise ValueError("valid is empty; pass None to hold out part of train instead")
        return list(train), list(valid)
    if settings.valid_fraction == 0:  # nothing held out: the training set validates
        return list(train), list(train)
    if len(train) < 2:
        raise ValueError("need at least 2 structures to hold one out for validation")
    n_valid = min(len(train) - 1, max(1, round(settings.valid_fraction * len(train))))
    order = np.random.default_rng(settings.seed).permutation(len(train))
    held = set(order[:n_valid].tolist())
    return (
        [a for i, a in enumerate(train) if i not in held],
        [a for i, a in enumerate(train) if i in held],
    )


def train_mace(
    train: Sequence[Atoms],
    workdir: str | Path,
    settings: MaceTrainSettings | None = None,
    *,
    foundation: Path | FoundationChoice | None = None,
    valid: Sequence[Atoms] | None = None,
    finetune: FinetunePlan | None = None,
) -> TeacherDoc:
    """Train (or fine-tune) a MACE teacher on labelled structures and validate it.

    Without ``valid``, a seeded ``settings.valid_fraction`` of ``train`` is held out
    (at least one structure; none when it is 0, and the training set validates).
    ``foundation`` is a local file (from :func:`resolve_foundation`) or the
    :class:`FoundationChoice` describing it.
    Everything is written under ``workdir``; its ``mace/`` subfolder is recreated.
    The validation RMSEs are recomputed here with :func:`mace_calculator`, so they
    measure exactly the file that the rest of the pipeline will load.
    """
    settings = settings or MaceTrainSettings()
    choice = _as_choice(foundation)
    _check_labelled(train, "training")
    _check_labelled(valid or [], "validation")
    train_set, valid_set = _split(train, valid, settings)
    workdir = Path(workdir).resolve()
    run_dir = workdir / "mace"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    train_file = write_dataset(workdir / "train.xyz", [a.copy() for a in train_set])
    valid_file = write_dataset(workdir / "valid.xyz", [a.copy() for a in valid_set])
    log_path = workdir / "mace_train.log"
    start = time.perf_counter()
    logger.info(
        "training MACE teacher on %d structures (%d held out), %d epochs, foundation: %s",
        len(train_set), len(valid_set), settings.max_num_epochs, choice.detail,
    )  # fmt: skip
    files = (train_file, valid_file, len(valid_set))
    finetune = _train_with_fallback(settings, run_dir, files, choice, finetune, log_path)
    model_path = run_dir / f"{RUN_NAME}.model"
    if not model_path.is_file():
        raise MaceTrainError(f"mace_run_train wrote no {model_path}; see {log_path}")
    e_rmse, f_rmse = _validation_rmse(model_path, valid_set)
    doc = TeacherDoc(
        model_path=model_path,
        foundation=choice.path,
        foundation_resolution=choice,
        settings=settings,
        n_train=len(train_set),
        n_valid=len(valid_set),
        valid_rmse_energy_mev_per_atom=1000.0 * e_rmse,
        valid_rmse_forces_ev_per_ang=f_rmse,
        elements=sorted({s for a in train_set for s in a.get_chemical_symbols()}),
        wall_time_s=time.perf_counter() - start,
        seed=settings.seed,
        mace_version=_mace_version(),
        log_path=log_path,
        finetuning=finetune,
        device=resolve_device(settings.device),
    )
    logger.info(
        "MACE teacher %s: validation %.2f meV/atom, %.3f eV/Å (%.0f s)",
        model_path, doc.valid_rmse_energy_mev_per_atom, f_rmse, doc.wall_time_s,
    )  # fmt: skip
    return doc


def _train_with_fallback(
    settings: MaceTrainSettings,
    run_dir: Path,
    files: tuple[Path, Path, int],
    choice: FoundationChoice,
    finetune: FinetunePlan | None,
    log_path: Path,
) -> FinetunePlan:
    """Run the training; a failed multihead run is redone as naive fine-tuning (recorded)."""
    plan = finetune or finetune_policy(choice)
    try:
        _run_mace(
            _train_args(settings, run_dir, files, choice.path, plan), log_path, settings.num_threads
        )
        return plan
    except MaceTrainError as exc:
        if plan.mode != "multihead":
            raise
        logger.warning("multihead fine-tuning failed; retrying as naive: %s", exc)
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        reason = f"multihead fine-tuning failed ({str(exc).splitlines()[0]}); naive instead"
        naive = FinetunePlan(mode="naive", reason=reason)
        _run_mace(
            _train_args(settings, run_dir, files, choice.path, naive),
            log_path,
            settings.num_threads,
        )
        return naive


def _as_choice(foundation: Path | FoundationChoice | None) -> FoundationChoice:
    """Normalise the ``foundation`` argument; a bare path is checked like a config value."""
    if foundation is None:
        return resolve_foundation_choice("none")
    if isinstance(foundation, FoundationChoice):
        return foundation
    return _local_choice(str(foundation))


def _validation_rmse(model_path: Path, structures: Sequence[Atoms]) -> tuple[float, float]:
    """Energy-per-atom (eV/atom) and force-component (eV/Å) RMSE of the saved model."""
    if not structures:
        return float("nan"), float("nan")
    calc = mace_calculator(model_path)
    energies: list[float] = []
    forces = []
    for atoms in structures:
        work = atoms.copy()
        work.calc = calc
        energies.append(float(work.get_potential_energy()))
        forces.append(np.asarray(work.get_forces(), dtype=float))
    return energy_force_rmse(structures, energies, forces)


def _mace_version() -> str:
    """Installed mace-torch version, for the record."""
    try:
        return version("mace-torch")
    except PackageNotFoundError:
        return "unknown"


# ----------------------------------------------------------------- using the teacher


def mace_calculator(model_path: str | Path) -> Calculator:
    """Load a MACE ``.model`` file as an ASE calculator on CPU in float64."""
    from mace.calculators import MACECalculator

    path = Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"MACE model file not found: {path}")
    calc: Calculator = MACECalculator(
        model_paths=[str(path)], device="cpu", default_dtype="float64"
    )
    return calc


def teacher_oracle(doc: TeacherDoc) -> CalculatorOracle:
    """Build the oracle that labels with the teacher; labels carry ``mace:<model file>``.

    The model is loaded once, on first use, and the calculator is shared by all
    structures: ASE recomputes whenever the atoms differ, and reloading the model
    for every structure would dominate the labelling time.
    """
    loaded: list[Calculator] = []

    def factory(_directory: Path) -> Calculator:
        if not loaded:
            loaded.append(mace_calculator(doc.model_path))
        return loaded[0]

    return CalculatorOracle(factory=factory, source=f"mace:{doc.model_path}")


def doctor_check() -> tuple[bool, str]:
    """Build a one-layer MACE, save it, load it through MACECalculator, evaluate Si2.

    No weights are downloaded: this proves the torch/e3nn/mace stack that loads and
    runs every teacher works, in a couple of seconds.
    """
    import mace  # noqa: F401 - first: it allows the torch.load that e3nn runs on import

    # isort: split
    import torch
    from ase.build import bulk
    from e3nn import o3
    from mace import modules

    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    model = modules.MACE(
        r_max=4.0,
        num_bessel=4,
        num_polynomial_cutoff=5,
        max_ell=1,
        interaction_cls=block,
        interaction_cls_first=block,
        num_interactions=1,
        num_elements=1,
        hidden_irreps=o3.Irreps("4x0e"),
        MLP_irreps=o3.Irreps("4x0e"),
        gate=torch.nn.functional.silu,
        atomic_energies=np.array([-1.0]),
        avg_num_neighbors=4.0,
        atomic_numbers=[14],
        correlation=2,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "doctor.model"
        torch.save(model.double(), path)
        atoms = bulk("Si", "diamond", a=5.43)
        atoms.calc = mace_calculator(path)
        energy = float(atoms.get_potential_energy())
    if not np.isfinite(energy):
        return False, "a MACE model evaluated to a non-finite energy; reinstall mace-torch"
    return True, f"mace-torch {_mace_version()} builds, loads and evaluates a model (CPU)"
