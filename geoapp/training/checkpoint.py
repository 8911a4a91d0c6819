"""Checkpoints: safetensors weights plus a JSON card, never pickles.

A checkpoint is a folder::

    card.json             model name and config, data fingerprint, splits/years, metrics, code version
    model.safetensors     model weights (state_dict)
    train_state.safetensors + train_state.json   (optional) optimizer state and counters, for resume

Folders are written under a temporary name and renamed, so a reader never sees half a checkpoint; a
failed save (a full disk) leaves the previous version of the folder as it was.

Cards are validated in one place, :func:`read_card` (and so :func:`load_checkpoint`): a card of a
known ``kind`` (:data:`CARD_KINDS`) must name a model of that kind and carry the fields its readers
use, and a card that does not is refused naming the file, the field and what was expected. Weights
that hold NaN or infinite values (a diverged training) are refused when loaded.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from geoapp import __version__
from geoapp.data.args import as_bool, as_path, given
from geoapp.data.bands import BANDS
from geoapp.errors import DataFileError, InputError, MissingDataError
from geoapp.fileio import atomic_folder
from geoapp.models.yield_models import BASELINE_NAMES, MODELS
from geoapp.paths import checkpoint_dir

__all__ = [
    "AVERAGE",
    "CARD_KINDS",
    "ENSEMBLE_CARD_KIND",
    "MEMBERS_DIR",
    "LOCATION_MODELS",
    "ensure_writable",
    "clear_previous_run",
    "settle_previous_run",
    "has_last_checkpoint",
    "remove_if_unused",
    "save_checkpoint",
    "load_checkpoint",
    "read_card",
    "validate_card",
    "write_error",
    "check_card",
    "check_weights_fit",
    "list_checkpoints",
    "optimizer_to_flat",
    "optimizer_from_flat",
]

CARD = "card.json"
WEIGHTS = "model.safetensors"
STATE = "train_state.safetensors"
STATE_JSON = "train_state.json"
AVERAGE = "average.safetensors"
"""A resumable run's moving average of the weights (``ema``, :mod:`geoapp.training.weight_average`), beside its state."""
ENSEMBLE_CARD_KIND = "crop-yield-ensemble"
"""The card kind of an ensemble of crop-yield checkpoints (:mod:`geoapp.training.ensemble`)."""
MEMBERS_DIR = ".members"
"""Where an ensemble checkpoint keeps its members (hidden: the checkpoint lists skip it)."""
RUN_CONTENT = ("best", "last", "metrics.jsonl")
"""What a trainer writes into a run folder."""

LOCATION_MODELS: tuple[str, ...] = ("contrastive-sh-siren",)
"""Model names of location-encoder cards (spherical harmonics + SIREN, trained contrastively)."""


def optimizer_to_flat(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors (for safetensors) and JSON-able rest.

    Raises:
        InputError: ``state`` is not an optimizer state dict (``{"state": {index: {...}}, "param_groups": [...]}``).
    """
    if (
        not isinstance(state, dict)
        or not isinstance(state.get("state"), dict)
        or not isinstance(state.get("param_groups"), list)
        or not all(isinstance(entry, dict) for entry in state["state"].values())
    ):
        raise InputError(
            "state must be an optimizer's state_dict() (a dict with 'state' of per-parameter dicts and 'param_groups' "
            f"a list), got {given(state)}"
        )
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
    """Inverse of :func:`optimizer_to_flat`: a dict ``optimizer.load_state_dict`` accepts.

    Raises:
        InputError: ``tensors`` is not a dict of tensors, ``meta`` lacks the ``param_groups`` list (or has
            ``scalars`` that are not a dict), or a key is not ``<parameter index>.<name>``.
    """
    if not isinstance(tensors, dict) or not all(torch.is_tensor(t) for t in tensors.values()):
        raise InputError(f"tensors must be a dict of tensors (optimizer_to_flat's first part), got {given(tensors)}")
    if not isinstance(meta, dict) or not isinstance(meta.get("param_groups"), list):
        raise InputError(f"meta must be a dict with the 'param_groups' list (optimizer_to_flat's second part), got {given(meta)}")
    scalars = meta.get("scalars", {})
    if not isinstance(scalars, dict):
        raise InputError(f"meta['scalars'] must be a dict of '<index>.<name>' keys, got {given(scalars)}")
    state: dict[int, dict[str, Any]] = {}
    for key, value in {**tensors, **scalars}.items():
        idx, dot, name = str(key).partition(".")
        if not dot or not idx.isdigit() or not name:
            raise InputError(f"optimizer state key {key!r} is not '<parameter index>.<name>' (such as '0.exp_avg')")
        state.setdefault(int(idx), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def ensure_writable(folder: str | os.PathLike[str], force: bool = False, resume: bool = False) -> Path:
    """Create ``folder`` and prove a file can be written there, before any training starts.

    A folder that already holds something (another run's ``best/``, ``last/`` or metrics, or a
    user's files) is refused unless ``force`` (the new run replaces the old one's checkpoints and
    metrics) or ``resume`` (the run continues from the folder's ``last/``, which must exist). An
    empty folder, or one holding only hidden temporary leftovers, counts as new. A ``best/`` or
    ``last/`` that is not a geoapp checkpoint (no card that reads as one, or other files in it) is
    refused even with ``force``: a run never deletes files geoapp did not write.

    Raises:
        DataFileError: the folder cannot be created or written (naming it and the system's reason).
        InputError: the folder holds another run (without ``force``), or ``resume`` finds no ``last/``;
            ``folder`` is not a path, or ``force``/``resume`` not a bool.
    """
    path = as_path(folder, "folder")
    force, resume = as_bool(force, "force"), as_bool(resume, "resume")
    if resume:
        if not _has_last(path):
            raise InputError(f"no last/ checkpoint in {str(path)!r} to resume from; run without --resume to start a new run")
    elif path.is_dir():
        held = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir() if not p.name.startswith("."))
        foreign = _not_written_by_geoapp(path)
        if foreign:
            shown = ", ".join(repr(f) for f in foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise InputError(
                f"geoapp will not replace a folder of other files: {str(path)!r} also holds files geoapp did not write "
                f"({shown}); move them out or choose another folder (--out)"
            )
        if held and not force:
            shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "")
            raise InputError(
                f"{str(path)!r} already holds {shown}; a new run would overwrite it: choose another folder (--out), "
                "continue that run with --resume, or replace it with --force"
            )
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


CHECKPOINT_FILES = (CARD, WEIGHTS, STATE, STATE_JSON, AVERAGE)
"""What :func:`save_checkpoint` writes into a checkpoint folder."""


def _not_written_by_geoapp(path: Path) -> list[str]:
    """What a new run would replace in run folder ``path`` but geoapp did not write (relative paths).

    Only ``best/`` and ``last/`` folders holding a checkpoint (a card that reads as one, and only
    checkpoint files) and ``metrics.jsonl`` are a run's; anything else at those names (a user's own
    ``best/`` folder, a file named ``best``) is not. Other files beside them are not touched by a run.
    """
    foreign: list[str] = []
    for name in ("best", "last"):
        target = path / name
        if not target.exists() and not target.is_symlink():
            continue
        if target.is_symlink() or not target.is_dir():
            foreign.append(name)
            continue
        others = sorted(f"{name}/{p.name}" for p in target.iterdir() if p.name not in (*CHECKPOINT_FILES, MEMBERS_DIR))
        try:
            read_card(target)
        except (DataFileError, MissingDataError):
            others = others or [f"{name}/"]
        foreign.extend(others)
    metrics = path / "metrics.jsonl"
    if metrics.is_dir() or metrics.is_symlink():
        foreign.append("metrics.jsonl")
    return foreign


def has_last_checkpoint(folder: str | os.PathLike[str]) -> bool:
    """Whether a run folder has a ``last/`` checkpoint to resume from (or one a kill left beside it).

    Raises:
        InputError: ``folder`` is not a path (None, a number).
    """
    return _has_last(as_path(folder, "folder"))


def _has_last(path: Path) -> bool:
    """A ``last/`` checkpoint, or its previous version left beside it by a kill between two renames."""
    if (path / "last" / CARD).is_file():
        return True
    return path.is_dir() and any((old / CARD).is_file() for old in path.glob(".last.old-*"))


PREVIOUS_RUN = ".previous-run"
"""Where :func:`clear_previous_run` keeps the run being replaced until the new run writes its ``best/``."""


def clear_previous_run(folder: str | os.PathLike[str]) -> None:
    """Move what an earlier run left in ``folder`` (``best/``, ``last/``, metrics) aside, for a new run to replace it.

    The earlier run is kept in ``folder/.previous-run`` until :func:`settle_previous_run`: dropped once
    the new run has written its ``best/``, put back if the new run fails before that. A ``.previous-run``
    left by a run that was killed is first settled the same way.

    Only what a run writes is moved, and only from a folder that looks like a run folder: a ``best/`` or
    ``last/`` that is not a geoapp checkpoint (a folder of the user's files, a file, a link) or a
    ``metrics.jsonl`` that is not a file is refused, whoever called, since the set-aside run is deleted
    once the new run writes its ``best/``. Other files beside them are left where they are.

    Raises:
        InputError: ``folder`` is not a path, is a file, or holds at a run's names what geoapp did not write.
    """
    path = as_path(folder, "folder")
    if path.exists() and not path.is_dir():
        raise InputError(f"run folder {str(path)!r} is a file; expected the folder of a training run")
    settle_previous_run(path)
    foreign = _not_written_by_geoapp(path) if path.is_dir() else []
    if foreign:
        shown = ", ".join(repr(f) for f in foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise InputError(
            f"{str(path)!r} does not look like a geoapp run folder: it holds files geoapp did not write ({shown}); "
            "geoapp will not set them aside for a new run: move them out or choose another folder (--out)"
        )
    present = [name for name in RUN_CONTENT if (path / name).exists()]
    if not present:
        return
    aside = path / PREVIOUS_RUN
    aside.mkdir()
    for name in present:
        os.replace(path / name, aside / name)


def settle_previous_run(folder: str | os.PathLike[str]) -> None:
    """Drop the run :func:`clear_previous_run` set aside if the new run wrote a ``best/``; else put it back.

    Putting it back removes what the new run wrote (its ``last/`` and metrics), so the folder is as it
    was before the new run started. Only the main process acts (``RANK`` 0 under torchrun).

    Raises:
        InputError: ``folder`` is not a path.
    """
    path = as_path(folder, "folder")
    aside = path / PREVIOUS_RUN
    if not aside.is_dir() or os.environ.get("RANK", "0").strip() not in ("0", ""):
        return
    if not (path / "best" / CARD).is_file():
        for name in RUN_CONTENT:
            target = path / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            if (aside / name).exists():
                os.replace(aside / name, target)
    shutil.rmtree(aside, ignore_errors=True)


def remove_if_unused(folder: str | os.PathLike[str]) -> None:
    """Remove a run folder this run created if it holds no checkpoint (a training that failed to start).

    Only a folder that holds nothing but what a run writes before its first checkpoint (``metrics.jsonl``,
    empty ``best/`` or ``last/``, geoapp's hidden temporaries) is removed; a folder with a checkpoint
    or with any other file is kept, and so is anything that is not a folder.

    Raises:
        InputError: ``folder`` is not a path.
    """
    path = as_path(folder, "folder")
    if not path.is_dir() or path.is_symlink():
        return
    for entry in path.iterdir():
        if entry.name == "metrics.jsonl" and entry.is_file():
            continue
        if entry.name in ("best", "last") and entry.is_dir() and not entry.is_symlink() and not any(entry.iterdir()):
            continue
        if entry.name.startswith(".") and (".tmp-" in entry.name or entry.name == ".previous-run"):
            continue
        return  # a checkpoint, or something geoapp did not write
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def run_folder(out_dir: str | os.PathLike[str], *, force: bool = False, resume: bool = False) -> Iterator[Path]:
    """The run folder of a training, for the duration of the run: checked, and tidied whatever happens.

    On entry :func:`ensure_writable` checks (and with ``force`` sets aside) what the folder holds. If
    the run fails, a folder this run created is removed unless it holds a checkpoint
    (:func:`remove_if_unused`); unless resuming, a forced run's predecessor is dropped once this run
    wrote ``best/``, else put back (:func:`settle_previous_run`).
    """
    created = not as_path(out_dir, "out_dir").exists()
    out = ensure_writable(out_dir, force=force, resume=resume)
    try:
        yield out
    except BaseException:
        if created:
            remove_if_unused(out)
        raise
    finally:
        if not resume:
            settle_previous_run(out)


def save_checkpoint(
    folder: str | os.PathLike[str],
    model: torch.nn.Module,
    card: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    train_state: dict[str, Any] | None = None,
    average: torch.nn.Module | None = None,
) -> Path:
    """Write ``model``'s weights, ``card`` (plus ``code_version``) and optionally the optimizer state.

    ``average`` (with the optimizer state: a ``last/`` checkpoint) is the run's moving average of the
    weights (a ``torch.optim.swa_utils.AveragedModel``), written to :data:`AVERAGE` so a resume
    continues it.

    The folder is replaced whole or not at all: if writing fails (a full disk), the previous
    checkpoint in ``folder`` is left as it was.

    Raises:
        DataFileError: the checkpoint could not be written (no space left on the device, or another
            system error, named with the folder).
        InputError: ``folder`` is not a path, ``model`` not a torch module, ``card`` not a dict, ``optimizer``
            not a torch optimizer (or None), or ``train_state`` not a dict (or None).
    """
    folder = as_path(folder, "folder")
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"model must be a torch.nn.Module, got {given(model)}")
    if not isinstance(card, dict):
        raise InputError(f"card must be a dict (the checkpoint card's fields), got {given(card)}")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise InputError(f"optimizer must be a torch.optim.Optimizer or None, got {given(optimizer)}")
    if train_state is not None and not isinstance(train_state, dict):
        raise InputError(f"train_state must be a dict of counters or None, got {given(train_state)}")
    if average is not None and not isinstance(average, torch.nn.Module):
        raise InputError(f"average must be a torch.nn.Module (the averaged model) or None, got {given(average)}")
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    try:
        with atomic_folder(folder) as tmp:
            save_file(weights, str(tmp / WEIGHTS))
            (tmp / CARD).write_text(json.dumps({**card, "code_version": __version__}, indent=1, default=_jsonable))
            if optimizer is not None:
                tensors, meta = optimizer_to_flat(optimizer.state_dict())
                save_file(tensors, str(tmp / STATE))
                (tmp / STATE_JSON).write_text(json.dumps({**meta, **(train_state or {})}, default=_jsonable))
            if average is not None:
                averaged = {k: v.detach().cpu().contiguous() for k, v in average.state_dict().items()}
                save_file(averaged, str(tmp / AVERAGE))
    except (SafetensorError, OSError) as exc:
        raise write_error(folder, exc) from exc
    return Path(folder)


def write_error(target: str | os.PathLike[str], exc: BaseException) -> DataFileError:
    """A :class:`DataFileError` for a failed write of ``target``: "no space left" said plainly when it is that.

    A geoapp error (e.g. the disk-full error of :mod:`geoapp.fileio`) is returned as it is.

    Raises:
        InputError: ``exc`` is not an exception.
    """
    if not isinstance(exc, BaseException):
        raise InputError(f"exc must be the exception the write raised, got {given(exc)}")
    if isinstance(exc, DataFileError):
        return exc
    text = str(exc)
    full = getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "No space left" in text or "StorageFull" in text
    if full:
        error = DataFileError(
            f"no space left on device while saving {str(target)!r}: free space or choose another folder, then continue "
            "with --resume (the previous checkpoints are intact)"
        )
        error.errno = errno.ENOSPC
        return error
    reason = getattr(exc, "strerror", None) or text
    return DataFileError(f"cannot save {str(target)!r}: {reason}; check that the folder is writable, then continue with --resume")


def _jsonable(value: Any) -> Any:
    if torch.is_tensor(value):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_card(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed and validated ``card.json`` of a checkpoint folder.

    A card of a known kind (:data:`CARD_KINDS`) is checked against that kind's fields; see
    :func:`validate_card`.

    Raises:
        MissingDataError: no card there.
        DataFileError: the card is not JSON, not a JSON object, or lacks what its kind needs.
        InputError: ``folder`` is not a path (None, a number, a dict).
    """
    path = as_path(folder, "folder") / CARD
    if not path.exists():
        raise MissingDataError(f"no checkpoint card at {str(path)!r}; is {str(folder)!r} a geoapp checkpoint folder?")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise DataFileError(f"checkpoint card {str(path)!r} is garbled: {exc}") from exc
    except OSError as exc:
        raise DataFileError(f"cannot read checkpoint card {str(path)!r}: {exc.strerror or exc}") from exc
    validate_card(card, path)
    return card


def _card_error(path: Path, problem: str) -> DataFileError:
    return DataFileError(
        f"checkpoint card {str(path)!r}: {problem}; the card was edited or comes from another program: "
        "restore it, or train the checkpoint again"
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_years(card: dict[str, Any], path: Path) -> None:
    years = card.get("years")
    if not isinstance(years, dict):
        raise _card_error(path, f"'years' must be an object with train, validation and test years, got {years!r}")
    for key in ("test", "validation"):
        if not _is_int(years.get(key)):
            raise _card_error(path, f"years.{key} must be a year (a whole number), got {years.get(key)!r}")
    train = years.get("train")
    if not isinstance(train, list) or not all(_is_int(y) for y in train):
        raise _card_error(path, f"years.train must be a list of years, got {train!r}")


def _check_dataset(card: dict[str, Any], path: Path) -> None:
    dataset = card.get("dataset")
    if not isinstance(dataset, dict) or not isinstance(dataset.get("fingerprint"), str):
        raise _card_error(path, f"'dataset' must be an object with the data 'fingerprint', got {dataset!r}")


def _check_model(card: dict[str, Any], path: Path, known: tuple[str, ...]) -> None:
    if card.get("model") not in known:
        problem = f"unknown model {card.get('model')!r} for a {card.get('kind')} checkpoint; known models: {list(known)}"
        raise _card_error(path, problem)


def _check_object(card: dict[str, Any], path: Path, key: str) -> None:
    if not isinstance(card.get(key), dict):
        raise _card_error(path, f"{key!r} must be a JSON object, got {card.get(key)!r}")


def _crop_yield_card(card: dict[str, Any], path: Path) -> None:
    _check_model(card, path, tuple(MODELS))
    _check_object(card, path, "model_config")
    _check_years(card, path)
    _check_dataset(card, path)
    norm = card.get("normalisation")
    if not isinstance(norm, dict) or not all(isinstance(norm.get(k), list) for k in ("bands", "mean", "std")):
        raise _card_error(path, f"'normalisation' must hold lists 'bands', 'mean' and 'std', got {_short(norm)}")
    _check_normalisation(norm, card["model_config"], path)
    _check_location_context(card, path)


def _check_location_context(card: dict[str, Any], path: Path) -> None:
    """A model with location (``semi-ha-loc``) must say which encoder made its table, and of which size."""
    config = card["model_config"]
    if not config.get("use_location"):
        return
    entry = card.get("location_context")
    if not isinstance(entry, dict) or not isinstance(entry.get("encoder"), str) or not isinstance(entry.get("model"), str):
        raise _card_error(
            path,
            f"a model with location ({card.get('model')!r}) needs 'location_context' naming its location encoder "
            f"('encoder', 'model', 'config'), got {_short(entry)}",
        )
    for key, field in (("rows", "location_rows"), ("dim", "location_dim")):
        if entry.get(key) != config.get(field):
            raise _card_error(
                path, f"location_context.{key} is {entry.get(key)!r} but model_config.{field} is {config.get(field)!r}"
            )


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_FLOAT32_MAX = 3.4028234663852886e38
"""The largest finite float32: the tiles are standardised in float32."""


def _check_normalisation(norm: dict[str, Any], model_config: dict[str, Any], path: Path) -> None:
    """The bands must be known, as many as the model's ``in_channels``, and ``mean``/``std`` one row of that width per step."""
    bands = norm["bands"]
    unknown = [b for b in bands if b not in BANDS]
    if unknown or len(set(bands)) != len(bands):
        what = f"unknown band(s) {unknown!r}" if unknown else "a band named twice"
        raise _card_error(path, f"normalisation.bands {_short(bands)} holds {what}; known bands: {list(BANDS)}")
    if [b for b in BANDS if b in bands] != list(bands):  # the tiles stack the bands in this order
        raise _card_error(
            path, f"normalisation.bands {_short(bands)} are not in geoapp's band order {list(BANDS)} (the order training writes)"
        )
    channels = model_config.get("in_channels")
    if channels is not None and len(bands) != channels:
        raise _card_error(
            path, f"normalisation.bands lists {len(bands)} band(s) {_short(bands)} but the model takes in_channels={channels!r}"
        )
    steps = model_config.get("n_steps")
    for key in ("mean", "std"):
        rows = norm[key]
        if _is_int(steps) and len(rows) != steps:
            raise _card_error(path, f"normalisation.{key} has {len(rows)} row(s) but the model takes n_steps={steps} time steps")
        widths = {len(row) if isinstance(row, list) else None for row in rows}
        if not rows or widths != {len(bands)}:
            shown = sorted(widths, key=str) if rows else "no rows"
            raise _card_error(
                path,
                f"normalisation.{key} must have one row of {len(bands)} value(s) (one per band) per time step, "
                f"got row widths {shown}",
            )
        if not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and abs(v) <= _FLOAT32_MAX
            for row in rows
            for v in row
        ):
            raise _card_error(path, f"normalisation.{key} must hold finite numbers (within float32's range, |x| <= 3.4e38)")
    if any(v <= 0 for row in norm["std"] for v in row):
        raise _card_error(path, "normalisation.std must hold positive numbers")


def _ridge_card(card: dict[str, Any], path: Path) -> None:
    _check_model(card, path, ("ridge",))
    n = card.get("n_features")
    if not _is_int(n) or n < 1:
        raise _card_error(path, f"'n_features' must be a positive whole number, got {n!r}")
    _check_years(card, path)
    _check_dataset(card, path)


def _baseline_card(card: dict[str, Any], path: Path) -> None:
    """A baseline of Section IV-B other than ridge: the layout of a crop-yield card (its own model_config)."""
    _check_model(card, path, tuple(n for n in BASELINE_NAMES if n != "ridge"))
    _check_object(card, path, "model_config")
    _check_years(card, path)
    _check_dataset(card, path)
    norm = card.get("normalisation")
    if not isinstance(norm, dict) or not all(isinstance(norm.get(k), list) for k in ("bands", "mean", "std")):
        raise _card_error(path, f"'normalisation' must hold lists 'bands', 'mean' and 'std', got {_short(norm)}")
    _check_normalisation(norm, card["model_config"], path)


def _ensemble_card(card: dict[str, Any], path: Path) -> None:
    """An ensemble of crop-yield checkpoints: one model, the shared years and data, and its members."""
    _check_model(card, path, (*MODELS, *BASELINE_NAMES))
    _check_years(card, path)
    _check_dataset(card, path)
    members = card.get("members")
    if not isinstance(members, list) or len(members) < 2:
        raise _card_error(path, f"'members' must list at least two member checkpoints, got {_short(members)}")
    for i, entry in enumerate(members):
        where = entry.get("path") if isinstance(entry, dict) else None
        parts = Path(where).parts if isinstance(where, str) else ()
        if not parts or parts[0] != MEMBERS_DIR or ".." in parts or Path(where).is_absolute():
            raise _card_error(path, f"members[{i}].path must be a folder under {MEMBERS_DIR}/, got {_short(where)}")
        for key in ("weights_sha256", "card_sha256"):
            digest = entry.get(key)
            if key == "card_sha256" and digest is None:
                continue  # optional
            if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
                raise _card_error(path, f"members[{i}].{key} must be a SHA-256 in hex, got {_short(digest)}")


def _location_card(card: dict[str, Any], path: Path) -> None:
    _check_model(card, path, LOCATION_MODELS)
    _check_object(card, path, "config")


CARD_KINDS: dict[str, Callable[[dict[str, Any], Path], None]] = {
    "crop-yield": _crop_yield_card,
    "ridge": _ridge_card,
    "yield-baseline": _baseline_card,
    ENSEMBLE_CARD_KIND: _ensemble_card,
    "location-encoder": _location_card,
}
"""Card kinds and their checks: every consumer of a card relies on these fields being there."""


def validate_card(card: Any, path: str | os.PathLike[str] = CARD) -> None:
    """Refuse a card that is not a JSON object, or a card of a known kind without what that kind needs.

    Raises:
        DataFileError: naming the card file, the field and what was expected.
        InputError: ``path`` is not a path.
    """
    path = as_path(path, "path")
    if not isinstance(card, dict):
        raise _card_error(path, f"expected a JSON object, got a JSON {type(card).__name__}")
    kind = card.get("kind")
    if kind is None and card.get("model") in LOCATION_MODELS:
        kind = "location-encoder"  # cards of early location checkpoints name no kind
    if kind in CARD_KINDS:
        CARD_KINDS[kind](card, path)


def load_checkpoint(
    folder: str | os.PathLike[str], with_train_state: bool = False
) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any] | None]:
    """Read a checkpoint folder: (weights, card, optimizer-and-counters or None).

    Raises:
        MissingDataError: the folder or its card is missing.
        DataFileError: the card is invalid (:func:`read_card`), the weights are missing or corrupted,
            or they hold NaN or infinite values.
        InputError: ``folder`` is not a path, or ``with_train_state`` not a bool.
    """
    folder = as_path(folder, "folder")
    with_train_state = as_bool(with_train_state, "with_train_state")
    card = read_card(folder)
    if (folder / WEIGHTS).is_dir():
        raise DataFileError(
            f"{str(folder / WEIGHTS)!r} is a folder where a file was expected (the checkpoint's weights); "
            "restore the checkpoint, or train it again"
        )
    try:
        weights = load_file(str(folder / WEIGHTS))
    except FileNotFoundError as exc:
        raise DataFileError(f"checkpoint {str(folder)!r} has no {WEIGHTS}") from exc
    except (SafetensorError, OSError, ValueError) as exc:
        raise DataFileError(f"checkpoint weights {str(folder / WEIGHTS)!r} are corrupted: {exc}") from exc
    bad = [name for name, t in weights.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise DataFileError(
            f"checkpoint weights {str(folder / WEIGHTS)!r} hold NaN or infinite values (in {bad[:3]!r}"
            f"{' and more' if len(bad) > 3 else ''}): the training that wrote them diverged; train again with a "
            "lower learning rate (--lr)"
        )
    state = None
    if with_train_state and (folder / STATE).exists():
        try:
            tensors = load_file(str(folder / STATE))
            meta = json.loads((folder / STATE_JSON).read_text())
        except (SafetensorError, OSError, ValueError, RecursionError) as exc:
            raise DataFileError(f"training state in {str(folder)!r} is corrupted: {exc}") from exc
        if not isinstance(meta, dict) or not isinstance(meta.get("param_groups"), list):
            raise DataFileError(f"training state {str(folder / STATE_JSON)!r} is not what geoapp writes; start a new run")
        state = {
            "optimizer": optimizer_from_flat(tensors, meta),
            **{k: v for k, v in meta.items() if k not in ("param_groups", "scalars")},
        }
    return weights, card, state


def check_weights_fit(model: torch.nn.Module, weights: dict[str, torch.Tensor], folder: str | os.PathLike[str]) -> None:
    """Refuse ``weights`` that ``model`` (built from the card) cannot load, naming the first mismatch and the count.

    Raises:
        DataFileError: a tensor is missing, not in the model, or of another shape.
        InputError: ``model`` is not a torch module, or ``weights`` not a dict of tensors.
    """
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"model must be a torch.nn.Module, got {given(model)}")
    if not isinstance(weights, dict) or not all(torch.is_tensor(t) for t in weights.values()):
        raise InputError(f"weights must be a dict of tensors (a state_dict), got {given(weights)}")
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    shapes = {k: tuple(v.shape) for k, v in weights.items()}
    diffs = []
    for key in sorted(set(expected) | set(shapes)):
        if key not in shapes:
            diffs.append(f"{key} is missing from the weights")
        elif key not in expected:
            diffs.append(f"{key} is not in the model")
        elif shapes[key] != expected[key]:
            diffs.append(f"{key} {shapes[key]} vs {expected[key]} (weights vs model)")
    if diffs:
        count = f"{len(diffs)} tensor{'s differ' if len(diffs) > 1 else ' differs'}"
        raise DataFileError(
            f"checkpoint {str(folder)!r}: the weights do not fit the card's model: {count}, e.g. {diffs[0]}; "
            "the checkpoint is damaged or from another geoapp version"
        )


def check_card(card: dict[str, Any], **expected: Any) -> None:
    """Raise :class:`InputError` naming each card field that differs from ``expected``.

    Raises:
        InputError: a field differs, or ``card`` is not a dict (a card's JSON object, or its ``dataset`` part).
    """
    if not isinstance(card, dict):
        raise InputError(f"card must be a checkpoint card (a dict, as read_card returns), got {given(card)}")
    bad = {k: (card.get(k), v) for k, v in expected.items() if card.get(k) != v}
    if bad:
        detail = "; ".join(f"{k}: checkpoint has {have!r}, expected {want!r}" for k, (have, want) in bad.items())
        if "fingerprint" in bad or "tile_px" in bad:  # a dataset card: the checkpoint was trained on other data
            name = card.get("name")
            where = f" ({name!r})" if isinstance(name, str) and name else ""
            detail += f"; evaluate it on the dataset it was trained on{where}, or retrain on this one"
        raise InputError(f"checkpoint does not match: {detail}")


def list_checkpoints(
    root: str | os.PathLike[str] | None = None, broken: list[tuple[Path, str]] | None = None
) -> list[tuple[Path, dict[str, Any]]]:
    """Every checkpoint folder under ``root`` (recursively; resume-only ``last`` folders skipped) with its card.

    ``root`` None means the checkpoint folder (:func:`geoapp.paths.checkpoint_dir`). A folder whose card
    cannot be read or is invalid is left out; with ``broken`` (a list), each such folder is appended to
    it with the reason, so a list can show it as broken.

    Raises:
        InputError: ``root`` is not a path or None, or ``broken`` is not a list or None.
    """
    root = checkpoint_dir() if root is None else as_path(root, "root")
    if broken is not None and not isinstance(broken, list):
        raise InputError(f"broken must be a list to collect the unreadable checkpoints in, or None; got {given(broken)}")
    found = []
    for card_path in sorted(root.rglob(CARD)) if root.is_dir() else []:
        folder = card_path.parent
        if folder.name == "last" or any(part.startswith(".") for part in folder.relative_to(root).parts):
            continue
        try:
            found.append((folder, read_card(folder)))
        except DataFileError as exc:
            if broken is not None:
                broken.append((folder, str(exc)))
    return found
