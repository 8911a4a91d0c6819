"""The crop-yield training configuration, the nested years of Section IV-D and the checkpoint argument check.

Shared by every model kind (:mod:`geoapp.training.model_kinds`): one :class:`YieldTrainConfig` holds
the fields of every kind; the fields a kind does not use are ignored by it, and its card records which
applied (``ModelKind.applies``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from os import PathLike
from typing import Any

from geoapp.config import DEVICES, check_choices, check_seed, setting, strict_from_dict
from geoapp.data.args import as_int, given
from geoapp.data.bands import FEATURE_GROUPS
from geoapp.errors import InputError
from geoapp.models.yield_models import MODEL_NAMES, SIZES, YieldModelConfig
from geoapp.training.augment import AUGMENTS
from geoapp.training.calibration import CALIBRATIONS
from geoapp.training.device import PRECISIONS
from geoapp.training.trend import TRENDS
from geoapp.training.yield_data import TEMPORAL_NEIGHBOURS

__all__ = [
    "YieldTrainConfig",
    "MODEL_OVERRIDE_KEYS",
    "RESUME_MAY_CHANGE",
    "nested_years",
    "check_checkpoint_arg",
    "resume_settings",
]


MODEL_OVERRIDE_KEYS: tuple[str, ...] = tuple(
    f.name
    for f in fields(YieldModelConfig)
    if f.name
    not in (
        "use_global_query",
        "use_context",
        "use_location",
        "in_channels",
        "n_steps",
        "target_mean",
        "target_std",
        "location_dim",
        "location_rows",
    )
)
"""YieldModelConfig fields a run may override; the others are set by the model name, the dataset's bands and
months, the training labels and (semi-ha-loc) the location table."""


@dataclass(frozen=True)
class YieldTrainConfig:
    """Hyperparameters of a crop-yield training run of any model kind (unknown keys are refused by :meth:`from_dict`).

    Every field is valid for every kind; a kind ignores the fields it does not use (the context radii
    for a baseline, the epochs for ridge and the random forest) and its checkpoint card lists the ones
    that applied.

    Each field carries its help text and allowed values (:func:`geoapp.config.setting`); the command
    line (``python -m geoapp train yield --help``) is generated from them.
    """

    model: str = setting(
        "semi-ha",
        "semi-ha (hybrid attention + context losses), s-ha (no context losses), semi-sa (self-attention, no global "
        "query); the baselines of Section IV-B: ridge (LR), rf (random forest), mlp (on averaged monthly features), "
        "lstm-gp, cnn-gp (on per-band histograms, with a Gaussian process), c3d (3-D CNN), cnn-lstm (the SEMI-HA CNN "
        "then an LSTM) on the tiles",
        choices=MODEL_NAMES,
    )
    size: str = setting(
        "demo", "model size: demo (compact, for CPU) or paper (ResNet-18 width 64, m = 512; GPU)", choices=tuple(SIZES)
    )
    test_year: int = setting(2018, "test year; validation is the year before, training the N_y years before that")
    n_train_years: int = setting(10, "N_y training years (Section IV-D)")
    epochs: int = setting(30, "most training epochs")
    patience: int = setting(6, "early stopping: epochs without a better validation RMSE")
    batch_size: int = setting(32, "examples per optimizer step (over all workers)")
    lr: float = setting(1e-3, "peak learning rate (AdamW with a one-cycle schedule)")
    weight_decay: float = setting(1e-4, "AdamW weight decay")
    r_n_km: float = setting(25.0, "spatial-neighbour radius SN, km (paper: 25 px at 1 km)")
    r_d_km: float = setting(100.0, "spatial-distant radius SD, km (paper: 100 px at 1 km)")
    temporal_neighbour: str = setting(
        "month",
        "TN, the same place one time step earlier: month (the month before, the paper's Section IV-E) "
        "or year (the same months a year before)",
        choices=TEMPORAL_NEIGHBOURS,
    )
    seed: int = setting(0, "random seed (model initialisation, sampling, batch order)")
    device: str = setting("auto", "auto (the GPU when there is one, else the CPU), cuda or cpu", choices=DEVICES)
    precision: str = setting(
        "auto",
        "auto (float16 mixed precision on a GPU, float32 on the CPU), float32, or bfloat16 mixed precision "
        "(attention models; on a CPU with AVX-512 BF16 or AMX it trains SEMI-HA about 1.3x faster)",
        choices=PRECISIONS,
    )
    compile: bool = setting(
        False,
        "compile the attention models' training step with torch.compile: a one-off 25-40 s per run (and per new "
        "batch shape), then faster steps (about 1.2x on this project's CPU, with bfloat16 too)",
    )
    loader_workers: int | None = setting(
        None,
        "worker processes that build the training batches (tiles read and cut while the model trains); "
        "none: auto (0 on the CPU, where workers compete with the model for the cores; min(8, CPUs - 1) on a GPU)",
    )
    max_train_examples: int = setting(0, "> 0: subsample the training examples to this many (smoke runs); 0: all")
    exclude_group: str | None = setting(
        None, "retrain without this feature group (the paper's Figure 7); none: all inputs", choices=tuple(FEATURE_GROUPS)
    )
    ema: float = setting(
        0.0,
        "0 (the paper: the trained weights as they are) or a decay in (0, 1), e.g. 0.995: validation, the best "
        "checkpoint and predictions use an exponential moving average of the weights over the training steps "
        "(attention models); recorded in the card",
    )
    augment: str = setting(
        "none",
        "none (the paper: tiles as they are) or dihedral: each training example's tiles turned by one of the eight "
        "symmetries of the square (rotations by 90 degrees and mirror images), drawn per step; models on tiles only, "
        "validation and test untouched; recorded in the card",
        choices=AUGMENTS,
    )
    trend: str = setting(
        "none",
        "none (the paper: yields as they are) or linear (a yield trend fitted on the training years is removed "
        "from the targets and added back to predictions; recorded in the card)",
        choices=TRENDS,
    )
    calibration: str = setting(
        "none",
        "none (the paper: predictions as the model makes them), trend or county-trend: after training, a line "
        "(and shrunk county offsets) fitted to the model's training-year residuals is added to its predictions; "
        "recorded in the card",
        choices=CALIBRATIONS,
    )
    model_overrides: dict[str, Any] = setting(
        default_factory=dict,
        help="YieldModelConfig fields to change from the model size's (e.g. the loss weights alpha, beta, gamma)",
        choices=MODEL_OVERRIDE_KEYS,
        keys_from=YieldModelConfig,
    )

    def __post_init__(self) -> None:
        check_choices(self)
        check_seed(self.seed)
        for name in ("n_train_years", "epochs", "patience", "batch_size"):
            if int(getattr(self, name)) <= 0:
                raise InputError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not 1900 <= self.test_year <= 2100:
            raise InputError(f"test_year must be a year in 1900..2100, got {self.test_year!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"lr must be a finite positive number, got {self.lr!r}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise InputError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if not (0 <= self.ema < 1 and math.isfinite(self.ema)):
            raise InputError(f"ema must be 0 (off) or a decay in (0, 1) such as 0.995, got {self.ema!r}")
        if int(self.max_train_examples) < 0:
            raise InputError(f"max_train_examples must be >= 0 (0: all examples), got {self.max_train_examples!r}")
        if self.loader_workers is not None and int(self.loader_workers) < 0:
            raise InputError(
                f"loader_workers must be a whole number >= 0 (0: batches built in the training process) or None "
                f"(auto), got {self.loader_workers!r}"
            )
        if not 0 < self.r_n_km < self.r_d_km < math.inf:
            raise InputError(f"need 0 < r_n_km < r_d_km, got {self.r_n_km!r} and {self.r_d_km!r}")
        if self.calibration != "none" and int(self.n_train_years) < 2:
            raise InputError(
                f"calibration {self.calibration!r} fits a trend to the training years' residuals, which needs at least "
                f"two training years; got n_train_years={self.n_train_years!r}: raise it or use calibration 'none'"
            )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> YieldTrainConfig:
        """Build from a dict, refusing unknown keys (naming them and the allowed ones)."""
        return strict_from_dict(cls, values, "yield-training")


def nested_years(test_year: int, n_train_years: int, available: list[int]) -> tuple[list[int], int, int]:
    """(training years, validation year, test year) of Section IV-D; an error names missing years.

    Raises:
        InputError: ``test_year`` is not a whole number, ``n_train_years`` not a whole number of at least 1,
            ``available`` not a list of whole years, or a year the split needs is not available.
    """
    test_year = as_int(test_year, "test_year")
    n_train_years = as_int(n_train_years, "n_train_years", minimum=1)
    if not isinstance(available, (list, tuple, range)):
        raise InputError(f"available must be a list of whole years (e.g. ds.years), got {given(available)}")
    available = [as_int(y, "available year") for y in available]
    if not available:
        raise InputError(f"available is empty: there are no years to split (test year {test_year})")
    first = test_year - n_train_years - 1
    held = sorted({y for y in available if first <= y <= test_year})
    n_missing = n_train_years + 2 - len(held)
    if n_missing:
        lacks = repr(sorted(set(range(first, test_year + 1)) - set(held))) if n_missing <= 50 else f"{n_missing:,} of them"
        raise InputError(
            f"test year {test_year} with N_y = {n_train_years} needs years {first}..{test_year}; "
            f"the dataset lacks {lacks} (it holds {min(available)}..{max(available)})"
        )
    train = list(range(first, test_year - 1))
    return train, test_year - 1, test_year


def check_checkpoint_arg(folder: Any) -> None:
    """Refuse a checkpoint argument that is not a folder path (None, a model, a dict)."""
    if not isinstance(folder, (str, PathLike)):
        raise InputError(
            f"checkpoint must be a checkpoint folder path (str or Path), got {type(folder).__name__} {_brief(folder)}; "
            "pass the folder that holds card.json"
        )


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


RESUME_MAY_CHANGE: tuple[str, ...] = ("device", "loader_workers", "compile", "epochs", "patience", "calibration")
"""YieldTrainConfig fields a resumed run may set differently from the interrupted one: where and how fast it
trains, how long (more epochs extend the run; the schedule is replayed over the new length), when it stops
early, and what is fitted after training. Every other field (learning rate, batch size, precision, seed,
trend, radii, ...) shapes the trajectory and must match."""


def resume_settings(cfg: YieldTrainConfig, applies: tuple[str, ...]) -> dict[str, Any]:
    """The settings of ``cfg`` among ``applies`` that a resumed run must share with the interrupted one.

    For :func:`geoapp.training.resume.resume_from_last`'s ``expected_config``: every applied field but
    :data:`RESUME_MAY_CHANGE`.
    """
    return {k: getattr(cfg, k) for k in applies if k not in RESUME_MAY_CHANGE}
