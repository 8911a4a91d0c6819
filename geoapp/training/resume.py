"""Resuming a training run from its ``last/`` checkpoint, shared by every trainer.

``last/`` holds the weights, the optimizer state and a few JSON counters (epoch, best validation
figure, ...) plus, on CUDA with mixed precision, the gradient scaler's state (current loss scale and
its growth counter), so a resumed run continues with the scale it had rather than re-adapting from
the default 65,536 over its first steps.

The learning-rate schedule is not stored: it is replayed step by step, which gives exactly the rates
the uninterrupted run would have had. Before anything is loaded, the checkpoint's card is compared with
what the run is about to train (model configuration, dataset fingerprint): resuming on rebuilt data or
with another configuration is refused with the differences named.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

from geoapp.data.args import as_int, as_path, given
from geoapp.errors import InputError
from geoapp.fileio import recover_folder
from geoapp.training.checkpoint import STATE, load_checkpoint, read_card
from geoapp.training.distributed import DistContext, broadcast_value

__all__ = [
    "ABSENT_SETTINGS",
    "train_state",
    "recover_run_folders",
    "resume_from_last",
    "CannotResumeError",
    "OtherRunError",
    "lost_best_message",
]


ABSENT_SETTINGS: dict[str, object] = {"augment": "none", "ema": 0.0}
"""Training settings added after checkpoints were first written, and the value a card without one was trained
with (an older checkpoint never turned its tiles): a resume with another value is another run."""


class CannotResumeError(InputError):
    """A run folder's ``last/`` cannot be resumed (lost ``best/``, a damaged card): the run must start anew."""


class OtherRunError(CannotResumeError):
    """``last/`` belongs to another run (another model configuration, dataset or training setting): start anew."""


def train_state(scaler: torch.amp.GradScaler, **counters: Any) -> dict[str, Any]:
    """JSON counters for ``save_checkpoint(..., train_state=...)``, with the scaler's state when enabled.

    Raises:
        InputError: ``scaler`` is not a ``torch.amp.GradScaler``.
    """
    _check_scaler(scaler)
    state = dict(counters)
    if scaler.is_enabled():
        state["grad_scaler"] = {k: float(v) if isinstance(v, float) else v for k, v in scaler.state_dict().items()}
    return state


def lost_best_message(out: Path, epochs: int) -> str:
    """The error for a resumed run whose ``best/`` is gone and which has no epoch left to train."""
    return (
        f"{str(Path(out) / 'best')!r} is missing and the interrupted run has no epoch left to train ({epochs} epochs, "
        "or it had stopped early): resume with more epochs, or train it again with force"
    )


def recover_run_folders(out: Path, ctx: DistContext) -> None:
    """Put back ``last/`` and ``best/`` if a kill cut their replacement short; remove a killed run's leftovers.

    Leftovers are the temporary folders and files of a save that was cut (``.best.tmp-*``,
    ``.last.tmp-*``, ``.metrics.jsonl.tmp-*``) and a previous version left beside a folder that was
    replaced (``.best.old-*``). Done once, on rank 0, then a barrier so that no rank reads them before.
    """
    if ctx.is_main:
        recover_folder(out / "last")
        recover_folder(out / "best")
        for pattern in (".best.tmp-*", ".last.tmp-*", ".metrics.jsonl.tmp-*", ".best.old-*", ".last.old-*"):
            for leftover in out.glob(pattern):
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)
    broadcast_value(0.0, ctx)


def resume_from_last(
    folder: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    steps_per_epoch: int,
    epochs: int,
    expected: dict[str, Any] | None = None,
    expected_config: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Load ``folder`` (a ``last/`` checkpoint) into the model, optimizer and scaler; replay the schedule.

    Call :func:`geoapp.fileio.recover_folder` on ``folder`` first (on one process) if a kill may have
    cut its replacement. ``expected`` maps card fields to the values this run has (compared after a
    JSON round trip, so tuples equal lists). ``expected_config`` maps training settings (e.g. ``lr``,
    ``batch_size``, ``precision``) to this run's values; each must equal the card's ``train_config``
    entry of the same name where the card records one (a card from an older version of geoapp that
    lacks a setting is not held to it, except the settings of :data:`ABSENT_SETTINGS`, which such a
    card was trained without: it resumes only with their value). Returns the saved counters (``epoch`` is the last finished
    epoch, 0-based), or None, loading nothing, when there is nothing to resume: no checkpoint, or one
    without training state (a run then starts from scratch rather than from weights without their
    optimizer and schedule).

    Raises:
        InputError: the checkpoint was made for another model configuration, dataset or training setting
            (the error names each difference); ``folder`` is not a
            path, a training object is not of its torch type, ``steps_per_epoch``/``epochs`` not whole
            numbers >= 1, or ``expected`` / ``expected_config`` not a dict (or None).
    """
    folder = as_path(folder, "folder")
    for name, value, kind in (
        ("model", model, torch.nn.Module),
        ("optimizer", optimizer, torch.optim.Optimizer),
        ("scheduler", scheduler, torch.optim.lr_scheduler.LRScheduler),
    ):
        if not isinstance(value, kind):
            raise InputError(f"{name} must be a {kind.__module__}.{kind.__name__}, got {given(value)}")
    _check_scaler(scaler)
    steps_per_epoch = as_int(steps_per_epoch, "steps_per_epoch", minimum=1)
    epochs = as_int(epochs, "epochs", minimum=1)
    if expected is not None and not isinstance(expected, dict):
        raise InputError(f"expected must be a dict of card fields and their values, or None; got {given(expected)}")
    if expected_config is not None and not isinstance(expected_config, dict):
        raise InputError(
            f"expected_config must be a dict of training settings and their values, or None; got {given(expected_config)}"
        )
    if not (folder / "card.json").exists() or not (folder / STATE).exists():
        return None
    card = read_card(folder)
    mismatched = {k: (card.get(k), v) for k, v in (expected or {}).items() if card.get(k) != json.loads(json.dumps(v))}
    saved = card.get("train_config") if isinstance(card.get("train_config"), dict) else {}
    absent = dict(ABSENT_SETTINGS)
    mismatched |= {
        f"train_config.{k}": (saved.get(k, absent.get(k)), v)
        for k, v in (expected_config or {}).items()
        if (k in saved or k in absent) and saved.get(k, absent.get(k)) != json.loads(json.dumps(v))
    }
    if mismatched:
        detail = "; ".join(f"{k}: checkpoint has {have!r}, this run has {want!r}" for k, (have, want) in mismatched.items())
        raise OtherRunError(f"cannot resume from {str(folder)!r}: it belongs to another run ({detail}); start a new run instead")
    weights, _, state = load_checkpoint(folder, with_train_state=True)
    if state is None:
        return None
    saved_optimizer = state.pop("optimizer")
    try:  # first, so that a state that does not fit leaves the model untouched
        optimizer.load_state_dict(saved_optimizer)
    except ValueError as err:  # torch: another number of parameter groups, or of parameters in a group
        raise OtherRunError(
            f"cannot resume from {str(folder)!r}: its optimizer state does not fit this run's optimizer ({err}); "
            "it was saved by a run that grouped the parameters differently (an older version of geoapp); "
            "start a new run instead"
        ) from err
    model.load_state_dict(weights)
    scaler_state = state.pop("grad_scaler", None)
    if scaler_state and scaler.is_enabled():
        scaler.load_state_dict(scaler_state)
    done_steps = min((int(state["epoch"]) + 1) * steps_per_epoch, epochs * steps_per_epoch)
    with warnings.catch_warnings():  # replaying the schedule before any optimizer step is intended
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
        for _ in range(done_steps):
            scheduler.step()
    return state


def _check_scaler(scaler: object) -> None:
    if not isinstance(scaler, torch.amp.GradScaler):
        raise InputError(f"scaler must be a torch.amp.GradScaler (disabled on CPU), got {given(scaler)}")
