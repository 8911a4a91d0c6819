"""What a training job is: a kind, its hyperparameters, a run name and how many workers train it.

The kind is a crop-yield model or a location encoder. A spec is validated before anything starts.

A spec is stored as ``spec.json`` in the job's folder; the worker process reads it back. The
hyperparameters are the trainers' own config dataclasses (:class:`YieldTrainConfig`,
:class:`LocationTrainConfig`), so the defaults a user sees in the form are the trainers' defaults and
an invalid value is refused with the trainer's own message.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from geoapp.data.args import as_path, given
from geoapp.errors import InputError
from geoapp.training.device import resolve_device

__all__ = ["JOB_KINDS", "JobSpec", "validate_config", "default_config", "MAX_WORKERS", "check_run_name", "run_folder_used"]

JOB_KINDS: dict[str, str] = {
    "yield": "Crop-yield model (SEMI-HA, S-HA, SEMI-SA, or a baseline: ridge, RF, MLP, LSTM+GP, CNN+GP, C3D, CNN-LSTM)",
    "location": "Location encoder (spherical harmonics + SIREN, contrastive)",
}
"""Job kinds and what they train."""

MAX_WORKERS = 8
"""Most data-parallel worker processes a job may ask for (torchrun's ``--nproc_per_node``)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_run_name(name: object) -> str:
    """``name`` if it may name a run folder: 1-64 letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit.

    Raises:
        InputError: anything else, naming the rule.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InputError(
            f"run name {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def run_folder_used(out: Path) -> bool:
    """Whether the run folder ``out`` is taken: it exists and holds anything.

    A finished run, or one still training before its first best epoch: no new run or ensemble may be
    written there.
    """
    return out.exists() and any(out.iterdir())


def _config_class(kind: str):
    if kind == "yield":
        from geoapp.training.yield_trainer import YieldTrainConfig

        return YieldTrainConfig
    if kind == "location":
        from geoapp.training.location_trainer import LocationTrainConfig

        return LocationTrainConfig
    raise InputError(f"unknown job kind {kind!r}; expected one of {sorted(JOB_KINDS)}")


def default_config(kind: str) -> dict[str, Any]:
    """The trainer's default hyperparameters for ``kind`` (the paper's where it gives them)."""
    return asdict(_config_class(kind)())


def validate_config(kind: str, values: dict[str, Any]):
    """The trainer config of ``kind`` built from ``values``; unknown keys or bad values raise InputError."""
    return _config_class(kind).from_dict(values)


KIND_DIRS = {"yield": "yield", "location": "location"}
"""The folder under ``<checkpoint dir>/user/`` of each job kind's runs."""


@dataclass(frozen=True)
class JobSpec:
    """A training job to run.

    Attributes:
        kind: ``yield`` or ``location``.
        name: run name (letters, digits, ``.``, ``_``, ``-``; at most 64): the checkpoint folder's name.
        config: the trainer's hyperparameters (a dict of its config fields; missing ones take defaults).
        workers: data-parallel worker processes (1: a plain process; more: torchrun with DDP).
        dataset: dataset folder for ``yield`` jobs (None: the embedded demo dataset).
    """

    kind: str
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    workers: int = 1
    dataset: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or self.kind not in JOB_KINDS:
            raise InputError(f"unknown job kind {self.kind!r}; expected one of {sorted(JOB_KINDS)}")
        check_run_name(self.name)
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or not 1 <= self.workers <= MAX_WORKERS:
            raise InputError(f"workers must be an integer from 1 to {MAX_WORKERS}, got {self.workers!r}")
        if self.dataset is not None and self.kind != "yield":
            raise InputError("only crop-yield jobs take a dataset folder")
        if self.dataset is not None and not isinstance(self.dataset, str):
            raise InputError(f"dataset must be a dataset folder as text (str) or None, got {given(self.dataset)}")
        if self.dataset is not None and not (as_path(self.dataset, "dataset") / "dataset.json").exists():
            raise InputError(f"dataset folder {self.dataset!r} has no dataset.json; build it with `python -m geoapp data build`")
        cfg = validate_config(self.kind, self.config)  # raises on unknown keys and bad values
        if cfg.batch_size < 2 * self.workers:
            raise InputError(
                f"batch size {cfg.batch_size} split over {self.workers} workers leaves fewer than 2 examples per "
                f"worker step (BatchNorm needs 2): use a batch size of at least {2 * self.workers}"
            )
        if self.kind == "yield" and self.workers > 1:
            from geoapp.training.model_kinds import model_kind

            if not model_kind(cfg.model).data_parallel:
                raise InputError(
                    f"{cfg.model} trains in one process: use 1 worker (data-parallel workers train the attention models)"
                )
        device = resolve_device(cfg.device)  # raises for 'cuda' when no GPU is visible
        if device.device.type == "cuda":
            import torch

            if self.workers > torch.cuda.device_count():
                raise InputError(
                    f"{self.workers} workers on the GPU need {self.workers} GPUs; {torch.cuda.device_count()} visible "
                    "(lower the workers, or choose device 'cpu')"
                )

    def run_folder_parts(self) -> tuple[str, str, str]:
        """The last three parts of the job's run folder: ``("user", <kind dir>, <name>)``."""
        return ("user", KIND_DIRS[self.kind], self.name)

    def check_run_folder(self, out: str | Path, checkpoints: str | Path) -> Path:
        """``out`` if it is this job's run folder, ``<checkpoints>/user/<kind>/<name>``, else an error.

        A job writes (and on a resume replaces) only its own run folder, so a status file naming any
        other folder is refused rather than trusted.

        Args:
            out: the run folder a status file names.
            checkpoints: the checkpoint folder (:func:`geoapp.paths.checkpoint_dir`).

        Raises:
            InputError: ``out`` is not this job's run folder under ``checkpoints``, or either is not a path.
        """
        expected = Path(as_path(checkpoints, "checkpoints"), *self.run_folder_parts())
        if not isinstance(out, (str, os.PathLike)):
            raise InputError(f"out must be a path (str or os.PathLike), got {given(out)}")
        path = Path(out)  # an empty one is not the job's run folder: refused below as damaged
        linked = any(p.is_symlink() for p in (expected, expected.parent, expected.parent.parent))  # nothing may lead elsewhere
        if not path.is_absolute() or ".." in path.parts or linked or path.resolve() != expected.resolve():
            raise InputError(
                f"the job's status names the run folder {str(out)!r}, but job {self.name!r} ({self.kind}) writes only "
                f"to {str(expected)!r}: the job folder is damaged (or GEOAPP_CHECKPOINT_DIR changed since it started); "
                "start a new job"
            )
        return path

    def trainer_config(self):
        """The validated trainer config (:class:`YieldTrainConfig` or :class:`LocationTrainConfig`)."""
        return validate_config(self.kind, self.config)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``spec.json``), with every hyperparameter spelled out."""
        return {
            "kind": self.kind,
            "name": self.name,
            "config": asdict(self.trainer_config()),
            "workers": self.workers,
            "dataset": self.dataset,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> JobSpec:
        """Rebuild a spec from :meth:`to_dict`'s output; unknown keys are refused.

        Raises:
            InputError: ``values`` is not a dict, holds unknown keys, or a value the spec refuses.
        """
        if not isinstance(values, dict):
            raise InputError(f"a job spec must be a JSON object (a dict) of kind, name, config, ...; got {given(values)}")
        unknown = sorted(set(values) - {"kind", "name", "config", "workers", "dataset"}, key=str)
        if unknown:
            raise InputError(f"job spec has unknown keys {unknown}")
        return cls(**values)
