"""Checkpoints: safetensors weights plus a JSON card, never pickles.

A checkpoint is a folder::

    card.json             model name and config, data fingerprint, splits/years, metrics, code version
    model.safetensors     model weights (state_dict)
    train_state.safetensors + train_state.json   (optional) optimizer state and counters, for resume

Folders are written under a temporary name and renamed, so a reader never sees half a checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from geoapp import __version__
from geoapp.errors import DataFileError, InputError, MissingDataError
from geoapp.fileio import atomic_folder

__all__ = [
    "ensure_writable",
    "save_checkpoint",
    "load_checkpoint",
    "read_card",
    "check_card",
    "list_checkpoints",
    "optimizer_to_flat",
    "optimizer_from_flat",
]

CARD = "card.json"
WEIGHTS = "model.safetensors"
STATE = "train_state.safetensors"
STATE_JSON = "train_state.json"


def optimizer_to_flat(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors (for safetensors) and JSON-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for idx, entry in state["state"].items():
        for name, value in entry.items():
            key = f"{idx}.{name}"
            if torch.is_tensor(value):
                tensors[key] = value.detach().cpu().contiguous()
            else:
                scalars[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_from_flat(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`optimizer_to_flat`: a dict ``optimizer.load_state_dict`` accepts."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in {**tensors, **meta.get("scalars", {})}.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def ensure_writable(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` and prove a file can be written there, before any training starts.

    Raises:
        DataFileError: the folder cannot be created or written (naming it and the system's reason).
    """
    path = Path(folder)
    probe = path / f".write-test-{os.getpid()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise DataFileError(
            f"cannot write checkpoints to {str(path)!r}: {exc.strerror or exc}; choose a writable folder "
            "(or set GEOAPP_CHECKPOINT_DIR)"
        ) from exc
    return path


def save_checkpoint(
    folder: str | os.PathLike[str],
    model: torch.nn.Module,
    card: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    train_state: dict[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights, ``card`` (plus ``code_version``) and optionally the optimizer state."""
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_folder(folder) as tmp:
        save_file(weights, str(tmp / WEIGHTS))
        (tmp / CARD).write_text(json.dumps({**card, "code_version": __version__}, indent=1, default=_jsonable))
        if optimizer is not None:
            tensors, meta = optimizer_to_flat(optimizer.state_dict())
            save_file(tensors, str(tmp / STATE))
            (tmp / STATE_JSON).write_text(json.dumps({**meta, **(train_state or {})}, default=_jsonable))
    target = Path(folder)
    return target


def _jsonable(value: Any) -> Any:
    if torch.is_tensor(value):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_card(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``card.json`` of a checkpoint folder."""
    path = Path(folder) / CARD
    if not path.exists():
        raise MissingDataError(f"no checkpoint card at {str(path)!r}; is {str(folder)!r} a geoapp checkpoint folder?")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFileError(f"checkpoint card {str(path)!r} is garbled: {exc}") from exc


def load_checkpoint(
    folder: str | os.PathLike[str], with_train_state: bool = False
) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any] | None]:
    """Read a checkpoint folder: (weights, card, optimizer-and-counters or None).

    Raises:
        MissingDataError: the folder or its card is missing.
        DataFileError: the weights are missing or corrupted.
    """
    folder = Path(folder)
    card = read_card(folder)
    try:
        weights = load_file(str(folder / WEIGHTS))
    except FileNotFoundError as exc:
        raise DataFileError(f"checkpoint {str(folder)!r} has no {WEIGHTS}") from exc
    except (SafetensorError, OSError, ValueError) as exc:
        raise DataFileError(f"checkpoint weights {str(folder / WEIGHTS)!r} are corrupted: {exc}") from exc
    state = None
    if with_train_state and (folder / STATE).exists():
        try:
            tensors = load_file(str(folder / STATE))
            meta = json.loads((folder / STATE_JSON).read_text())
        except (SafetensorError, OSError, ValueError) as exc:
            raise DataFileError(f"training state in {str(folder)!r} is corrupted: {exc}") from exc
        state = {
            "optimizer": optimizer_from_flat(tensors, meta),
            **{k: v for k, v in meta.items() if k not in ("param_groups", "scalars")},
        }
    return weights, card, state


def check_card(card: dict[str, Any], **expected: Any) -> None:
    """Raise :class:`InputError` naming each card field that differs from ``expected``."""
    bad = {k: (card.get(k), v) for k, v in expected.items() if card.get(k) != v}
    if bad:
        detail = "; ".join(f"{k}: checkpoint has {have!r}, expected {want!r}" for k, (have, want) in bad.items())
        raise InputError(f"checkpoint does not match: {detail}")


def list_checkpoints(root: str | os.PathLike[str]) -> list[tuple[Path, dict[str, Any]]]:
    """Every checkpoint folder under ``root`` (recursively; resume-only ``last`` folders skipped) with its card."""
    root = Path(root)
    found = []
    for card_path in sorted(root.rglob(CARD)) if root.is_dir() else []:
        folder = card_path.parent
        if folder.name == "last" or any(part.startswith(".") for part in folder.relative_to(root).parts):
            continue
        try:
            found.append((folder, read_card(folder)))
        except DataFileError:
            continue
    return found
