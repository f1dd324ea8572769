"""Records of the MACE teacher: how it is trained and what came out.

Kept free of torch and mace-torch imports so that reading a run's records (jobflow
outputs, the CLI's report) does not pay for loading the deep-learning stack.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pyacemaker.oracle import LabelDoc

# Rule of MaceTrainSettings.for_dataset: about this many optimizer steps in total ...
TARGET_OPTIMIZER_STEPS = 1000
# ... with about this many batches per epoch, within these bounds.
BATCHES_PER_EPOCH = 8
BATCH_SIZE_BOUNDS = (2, 32)
EPOCH_BOUNDS = (30, 300)


class MaceTrainSettings(BaseModel):
    """Hyperparameters of one ``mace_run_train`` run (float64; GPU when present).

    Defaults give a tiny CPU teacher (16 channels, scalar features only) that fits a
    few dozen small DFT cells in minutes; energy weight ≫ force weight because the
    teacher must reproduce energy-volume curves, not only forces. When fine-tuning
    from a foundation model, the architecture fields (channels, L, r_max,
    interactions, correlation) are taken from the foundation file instead.
    """

    model_config = ConfigDict(extra="forbid")

    num_channels: int = Field(default=16, gt=0, description="channels per feature, e.g. 16")
    max_L: int = Field(
        default=0, ge=0, le=3, description="highest equivariant order, 0 = scalars only"
    )
    r_max: float = Field(default=5.0, gt=0, description="radial cutoff in Å")
    num_interactions: int = Field(default=2, ge=1, description="message-passing layers")
    correlation: int = Field(default=2, ge=1, description="body order minus one of each layer")
    e0s: str = Field(
        default="average", description="MACE --E0s: 'average' fits isolated-atom energies"
    )
    energy_weight: float = Field(default=100.0, ge=0, description="loss weight of energies")
    forces_weight: float = Field(default=10.0, ge=0, description="loss weight of forces")
    stress_weight: float = Field(
        default=0.0,
        ge=0,
        description="loss weight of stresses; > 0 switches to MACE's 'stress' loss",
    )
    batch_size: int = Field(default=4, gt=0, description="structures per optimizer step")
    max_num_epochs: int = Field(default=100, gt=0, description="training epochs")
    lr: float = Field(default=0.01, gt=0, description="learning rate")
    ema: bool = Field(default=True, description="exponential moving average of the weights")
    ema_decay: float = Field(default=0.99, gt=0, lt=1, description="EMA decay")
    seed: int = Field(default=123, description="seed of MACE and of the train/validation split")
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto",
        description="where mace_run_train runs: 'auto' = cuda when torch sees a GPU on the "
        "worker (the 'train' category of submit routes to GPU workers), else cpu; the "
        "device used is in TeacherDoc.device",
    )
    num_threads: int = Field(
        default=1,
        gt=0,
        description="CPU threads of the training process; 1 is fastest for small teachers "
        "and on a busy machine (2 threads measured 7x slower under load)",
    )
    valid_fraction: float = Field(
        default=0.1,
        ge=0,
        lt=1,
        description="share of structures held out when no valid set is given; 0 holds out "
        "none: every structure trains and MACE validates (picks its checkpoint) on the "
        "training set, for sets so small that each cell is unique (docs/benchmarks.md)",
    )

    @classmethod
    def for_dataset(cls, n_structures: int, **overrides: Any) -> MaceTrainSettings:
        """Build settings whose batch size and epochs follow the data set size.

        Rule: ``batch_size = clip(n // 8, 2, 32)`` so an epoch is about 8 batches,
        and ``max_num_epochs = clip(ceil(1000 / batches_per_epoch), 30, 300)`` so a
        run makes about 1000 optimizer steps whatever ``n`` is (36 structures give
        batch 4, 112 epochs, close to the recipe verified in docs). Small sets get
        many cheap epochs, large ones fewer expensive ones. ``overrides`` win over
        the rule; an override of ``None`` means "use the rule" (so a config field
        left empty can be passed straight through).
        """
        if n_structures < 1:
            raise ValueError(f"need at least one structure, got {n_structures}")
        low, high = BATCH_SIZE_BOUNDS
        batch = min(high, max(low, n_structures // BATCHES_PER_EPOCH))
        given = {k: v for k, v in overrides.items() if v is not None}
        batch = int(given.get("batch_size", batch))
        steps_per_epoch = math.ceil(n_structures / batch)
        e_low, e_high = EPOCH_BOUNDS
        epochs = min(e_high, max(e_low, math.ceil(TARGET_OPTIMIZER_STEPS / steps_per_epoch)))
        return cls.model_validate({"batch_size": batch, "max_num_epochs": epochs, **given})


FoundationHow = Literal["none", "cached", "downloaded", "local_file", "pretrained"]


def has_foundation(spec: str) -> bool:
    """False for the ``teacher.foundation`` value that means "train from scratch"."""
    return spec.strip().lower() != "none"


class FoundationChoice(BaseModel):
    """What ``teacher.foundation`` resolved to, kept so a run can say where it started."""

    model_config = ConfigDict(extra="forbid")

    spec: str = Field(description="the value as written in the config")
    path: Path | None = Field(description="the local .model file, None = from scratch")
    how: FoundationHow = Field(description="how the file was found")
    detail: str = Field(description="one human-readable line, e.g. the cache path")
    energy_offsets: dict[str, float] | None = Field(
        default=None,
        description="pretrained only: eV/atom per element added to the foundation's "
        "synthetic labels to put them on the DFT's energy zero (EnergyAlignment)",
    )


class EnergyAlignment(BaseModel):
    """Foundation labels moved onto the DFT's energy zero, and how well the zero fits."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(description="the shifted labels (extxyz)")
    offsets: dict[str, float] = Field(description="eV/atom per element added to each energy")
    n_reference: int = Field(ge=1, description="DFT cells the offsets were fitted on")
    residual_mev_per_atom: float = Field(
        description="RMS per-atom energy difference, foundation + offsets vs DFT, on them"
    )


FinetuneMode = Literal["scratch", "naive", "multihead"]


class FinetunePlan(BaseModel):
    """How the teacher starts from its foundation, and why (fallbacks included)."""

    model_config = ConfigDict(extra="forbid")

    mode: FinetuneMode = Field(description="scratch, naive fine-tuning, or multihead + replay")
    replay: str | None = Field(default=None, description="--pt_train_file of multihead runs")
    reason: str = Field(description="why this mode (e.g. the fallback from multihead)")


class TeacherDoc(BaseModel):
    """A trained MACE teacher: the model file plus what is needed to trust and redo it."""

    model_config = ConfigDict(extra="forbid")

    model_path: Path = Field(description="plain .model file that MACECalculator loads")
    foundation: Path | None = Field(description="foundation file fine-tuned from, or None")
    foundation_resolution: FoundationChoice = Field(description="how the foundation was found")
    settings: MaceTrainSettings
    n_train: int = Field(ge=1)
    n_valid: int = Field(ge=0)
    valid_rmse_energy_mev_per_atom: float = Field(description="on the held-out set, meV/atom")
    valid_rmse_forces_ev_per_ang: float = Field(description="on the held-out set, eV/Å")
    elements: list[str] = Field(description="chemical symbols the teacher was trained on")
    wall_time_s: float = Field(ge=0, description="training plus validation, seconds")
    seed: int
    mace_version: str
    log_path: Path = Field(description="full mace_run_train output")
    finetuning: FinetunePlan | None = Field(
        default=None, description="fine-tuning mode and reason; None for older records"
    )
    device: str = Field(default="cpu", description="where it was trained: cpu or cuda")


class TieredLabelDoc(LabelDoc):
    """Labels from the tiered oracle, with how many structures took each route."""

    routes: dict[str, int] = Field(description="teacher / uncertain / dft / rejected counts")
    n_dft_calls: int = Field(ge=0, description="structures sent to the DFT oracle")
    rejected: dict[int, str] = Field(description="input index -> why it was discarded")
    rejected_dataset: str | None = None
    committee_size: int = Field(ge=1)
    uncertainty_threshold: float
    threshold_call_dft: float | None
