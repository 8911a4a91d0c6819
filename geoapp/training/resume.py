"""Resuming a training run from its ``last/`` checkpoint, shared by every trainer.

``last/`` holds the weights, the optimizer state and a few JSON counters (epoch, best validation
figure, ...) plus, on CUDA with mixed precision, the gradient scaler's state (current loss scale and
its growth counter), so a resumed run continues with the scale it had rather than re-adapting from
the default 65,536 over its first steps.

The learning-rate schedule is not stored: it is replayed step by step, which gives exactly the rates
the uninterrupted run would have had.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from geoapp.fileio import recover_folder
from geoapp.training.checkpoint import load_checkpoint

__all__ = ["train_state", "resume_from_last"]


def train_state(scaler: torch.amp.GradScaler, **counters: Any) -> dict[str, Any]:
    """JSON counters for ``save_checkpoint(..., train_state=...)``, with the scaler's state when enabled."""
    state = dict(counters)
    if scaler.is_enabled():
        state["grad_scaler"] = {k: float(v) if isinstance(v, float) else v for k, v in scaler.state_dict().items()}
    return state


def resume_from_last(
    folder: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    steps_per_epoch: int,
    epochs: int,
) -> dict[str, Any] | None:
    """Load ``folder`` (a ``last/`` checkpoint) into the model, optimizer and scaler; replay the schedule.

    A ``last/`` folder left half-swapped by a kill is recovered first. Returns the saved counters
    (``epoch`` is the last finished epoch, 0-based), or None when there is nothing to resume: no
    checkpoint, or one without training state (then only the weights are loaded).
    """
    folder = Path(folder)
    if not (recover_folder(folder) / "card.json").exists():
        return None
    weights, _, state = load_checkpoint(folder, with_train_state=True)
    model.load_state_dict(weights)
    if state is None:
        return None
    optimizer.load_state_dict(state.pop("optimizer"))
    scaler_state = state.pop("grad_scaler", None)
    if scaler_state and scaler.is_enabled():
        scaler.load_state_dict(scaler_state)
    done_steps = min((int(state["epoch"]) + 1) * steps_per_epoch, epochs * steps_per_epoch)
    with warnings.catch_warnings():  # replaying the schedule before any optimizer step is intended
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
        for _ in range(done_steps):
            scheduler.step()
    return state
