"""Results are checked before they are shown: a diverged training or a NaN score is an error, never a number.

- Training stops at the first step whose loss is not a finite number (:func:`check_loss`); under
  torchrun every worker learns of it at the same step and stops (:class:`TrainingDiverged`).
- A score (RMSE, R^2) is refused when it is NaN or infinite, or when no county was scored
  (:func:`check_scores`), naming the year, the checkpoint and what to do.
- A dataset used for training or evaluation is checked against its files first
  (:func:`verify_dataset`), so a checkpoint is never scored on a cube that was replaced.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any

import torch

from geoapp.data.args import as_path, as_text, given
from geoapp.errors import GeoappError, InputError
from geoapp.training.distributed import DistContext, mean_across
from geoapp.training.yield_data import check_dataset_arg

__all__ = [
    "InvalidResultError",
    "TrainingDiverged",
    "check_loss",
    "check_weights",
    "check_scores",
    "no_best_message",
    "verify_dataset",
]


class InvalidResultError(GeoappError, ArithmeticError):
    """A result (a loss, a score) is NaN or infinite: showing it would show a wrong result as valid."""


class TrainingDiverged(InvalidResultError):
    """Training produced a loss that is not a finite number (usually a learning rate too high)."""


def check_loss(loss: float, ctx: DistContext, *, what: str, epoch: int, step: int, lr: float, out: Path) -> None:
    """Stop training at the first non-finite loss; every worker calls this at every step.

    Under torchrun the losses of all workers are averaged first, so a NaN on any worker stops every
    worker at the same step.

    Raises:
        TrainingDiverged: naming the run, the epoch, the step, the loss and what to do.
    """
    value = mean_across({"loss": float(loss)}, ctx)["loss"] if ctx.distributed else float(loss)
    if math.isfinite(value):
        return
    best = out / "best"
    kept = f"the best checkpoint so far stays in {str(best)!r}" if (best / "card.json").exists() else "no checkpoint was written"
    raise TrainingDiverged(
        f"training of {what} diverged in epoch {epoch}, step {step}: the loss is {value} (not a finite number); "
        f"{kept}; lower the learning rate (--lr, now {lr:g}) and train again"
    )


def check_weights(model: torch.nn.Module, *, what: str, epoch: int, lr: float, out: Path) -> None:
    """Refuse to go on (and to save) when a weight is NaN or infinite after an epoch.

    Workers hold the same weights (data-parallel training averages the gradients), so all of them
    reach the same answer.

    Raises:
        TrainingDiverged: naming the run, the epoch, the first bad tensor and what to do.
    """
    with torch.no_grad():
        bad = [name for name, t in model.state_dict().items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise TrainingDiverged(
            f"training of {what} diverged in epoch {epoch}: weights {bad[:3]!r} are not finite numbers; nothing of that "
            f"epoch was saved (see {str(out)!r}); lower the learning rate (--lr, now {lr:g}) and train again"
        )


def no_best_message(what: str, out: Path, metric: str) -> str:
    """Why a run that trained to the end has no ``best/``: its validation figure was never finite."""
    return (
        f"training of {what} finished without a finite {metric} in any epoch, so it wrote no best/ checkpoint "
        f"in {str(out)!r}; lower the learning rate (--lr) and train again"
    )


def check_scores(result: dict[str, Any], *, checkpoint: str | Path, dataset: str) -> dict[str, Any]:
    """Refuse an evaluation with no county scored or a NaN/infinite RMSE or R^2; returns ``result``.

    ``result`` holds ``year``, ``n``, ``rmse`` and ``r2``.

    Raises:
        InputError: no labelled county in the year, or fewer than two different yields (R^2 undefined).
        InvalidResultError: the RMSE or R^2 is NaN or infinite (predictions that are not finite).
        InputError: ``result`` is not such a dict (a key missing, a count or a score that is not a number).
    """
    _check_result(result)
    checkpoint = as_path(checkpoint, "checkpoint")
    dataset = as_text(dataset, "dataset")
    year, n = result["year"], int(result["n"])
    if n == 0:
        raise InputError(
            f"no labelled counties in {year} in dataset {dataset!r}: checkpoint {str(checkpoint)!r} has nothing to be "
            "scored on; choose a year with yields"
        )
    if not math.isfinite(result["rmse"]):
        raise InvalidResultError(
            f"checkpoint {str(checkpoint)!r} on {year} ({n} counties) gives RMSE {result['rmse']}: its predictions "
            "are not finite numbers; train it again (with a lower learning rate, --lr)"
        )
    if not math.isfinite(result["r2"]):
        raise InputError(
            f"R^2 of checkpoint {str(checkpoint)!r} on {year} is undefined: the {n} labelled counties all have the same "
            "yield; choose a year with more labelled counties"
        )
    return result


def _check_result(result: object) -> None:
    """Refuse a result that is not a dict with a year, a whole ``n`` >= 0 and numeric ``rmse`` and ``r2``."""
    expected = "a dict with year, n (counties scored), rmse and r2"
    if not isinstance(result, dict) or not {"year", "n", "rmse", "r2"} <= set(result):
        raise InputError(f"result must be {expected}, got {given(result)}")
    n = result["n"]
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise InputError(f"result['n'] must be a whole number of counties (>= 0), got {given(n)}")
    for key in ("rmse", "r2"):
        value = result[key]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InputError(f"result[{key!r}] must be a number, got {given(value)}")


def verify_dataset(ds: Any) -> None:
    """Check a dataset against its files before it is used for training or evaluation.

    Calls the dataset's ``verify_fingerprint()``, which raises when a file was replaced since the
    dataset was built.

    Raises:
        InputError: ``ds`` is not a dataset from :func:`~geoapp.data.dataset.load_dataset` (None
            included): a dataset that cannot be checked is never passed as checked.
        DatasetChangedError: the files changed since the card was written.
    """
    check_dataset_arg(ds)
    ds.verify_fingerprint()
