"""How a trainer reports progress and learns that it should stop (the job runner's hook into it).

A trainer calls :meth:`TrainingMonitor.report` on rank 0 with small dict events and asks
:meth:`TrainingMonitor.stop_requested` at every step; under torchrun rank 0's answer is broadcast so
that all workers stop at the same step. A stop raises :class:`TrainingCancelled` out of the trainer
after the last finished epoch's ``last/`` checkpoint, so a cancelled run can resume from it.

Events (all carry ``event``):

- ``start``: ``epochs``, ``steps`` (per epoch), ``start_epoch`` (> 0 when resuming), ``device``,
  ``world_size``;
- ``step``: ``epoch`` (1-based), ``step`` (1-based), ``steps``, ``loss`` (this step's training loss);
- ``epoch``: the epoch's metrics record, as written to ``metrics.jsonl``;
- ``end``: ``checkpoint`` (the best folder), ``stopped_early`` (bool).
"""

from __future__ import annotations

from typing import Any

from geoapp.errors import GeoappError

__all__ = ["TrainingMonitor", "TrainingCancelled"]


class TrainingCancelled(GeoappError):
    """Training stopped because its monitor asked it to (a user pressed cancel)."""


class TrainingMonitor:
    """Base monitor: ignores every event and never asks to stop. Subclass and override."""

    def report(self, event: dict[str, Any]) -> None:
        """Receive one progress event (rank 0 only); must be quick: it runs inside the training loop."""

    def stop_requested(self) -> bool:
        """True to stop training at the next step."""
        return False
