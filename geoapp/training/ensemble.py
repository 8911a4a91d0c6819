"""An ensemble of crop-yield checkpoints: the mean of their predictions.

Deep models trained from different seeds make partly independent errors; the mean of their
predictions has a lower error than a typical member (Lakshminarayanan et al. 2017, "deep ensembles").
:class:`EnsemblePredictor` loads several checkpoints of one held-out setting and predicts, per county,
the mean of the members' own predictions in bu/acre. It has the ``predict(ds, year)`` of every loaded
checkpoint (:class:`geoapp.training.model_kinds.Predictor`), so the residual calibration fits to it as
to one model (:func:`geoapp.training.calibration.fit_calibration`).

The members must share the dataset and the nested years (training years, validation year, test
year): an ensemble of models that saw different years would be scored on a year some of them
trained on.

**An ensemble checkpoint** (:func:`write_ensemble`, ``python -m geoapp train ensemble``) is a folder the
app lists and loads like any crop-yield checkpoint: ``card.json`` of kind ``crop-yield-ensemble``
naming the members' model, the dataset, the shared years, its own validation and test metrics and,
per member, its folder and the SHA-256 of its weights; the members' checkpoints (card and weights,
copied) in ``.members/m<i>/`` (a hidden folder: the checkpoint lists do not show the members on
their own). Loading checks each member's weights and card against their hashes, so a member swapped or damaged
on disk is refused rather than silently averaged. A residual calibration (``county-trend``) is
fitted to the ensemble's own training-year residuals and kept in its card, as for one model. The
ensemble has no attention weights of its own (the Attention page lists its members' kinds only);
the what-if ablation masks a group in every member.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from geoapp import __version__
from geoapp.data.args import as_path, given
from geoapp.data.dataset import YieldDataset
from geoapp.errors import DataFileError, InputError
from geoapp.fileio import atomic_folder, sha256_file
from geoapp.training.checkpoint import CARD, ENSEMBLE_CARD_KIND, MEMBERS_DIR, WEIGHTS, read_card, validate_card
from geoapp.training.metrics import rmse_r2
from geoapp.training.yield_runs import YieldPredictions

__all__ = ["EnsemblePredictor", "load_ensemble", "load_ensemble_checkpoint", "write_ensemble", "weights_sha256"]


class EnsemblePredictor:
    """The mean of several loaded checkpoints' predictions.

    Args:
        members: loaded checkpoints (:func:`~geoapp.training.model_kinds.load_yield_checkpoint`),
            at least two, with the same ``years`` in their cards.

    Attributes:
        card: ``{"kind": "crop-yield-ensemble", "members": [...], "years": ...}``: each member's model
            and seed, and the years the members share (training, validation, test).

    Raises:
        InputError: fewer than two members, or members with other nested years.
    """

    def __init__(self, members: Sequence[Any]) -> None:
        members = list(members)
        if len(members) < 2:
            raise InputError(f"an ensemble needs at least two checkpoints, got {len(members)}")
        years = [m.card.get("years") for m in members]
        if any(y != years[0] for y in years):
            raise InputError(f"the ensemble's checkpoints must share their training, validation and test years; got {years}")
        self.members = members
        self.card: dict[str, Any] = {
            "kind": "crop-yield-ensemble",
            "years": years[0],
            "members": [{"model": m.card.get("model"), "seed": (m.card.get("train_config") or {}).get("seed")} for m in members],
        }

    def predict(self, ds: YieldDataset, year: int, mask_group: str | None = None) -> YieldPredictions:
        """Per labelled county of ``year``, the mean of the members' predictions (bu/acre)."""
        outs = [m.predict(ds, int(year), mask_group=mask_group) for m in self.members]
        first = outs[0]
        for out in outs[1:]:
            if not np.array_equal(out.county, first.county):
                raise InputError(f"the ensemble's checkpoints predict different counties for {year}")
        mean = np.mean([out.predicted for out in outs], axis=0)
        return YieldPredictions(first.county, first.year, first.target, mean)


def weights_sha256(folder: str | Path) -> str:
    """The SHA-256 (hex) of a checkpoint folder's weights file."""
    return sha256_file(Path(folder) / WEIGHTS)


def load_ensemble(folders: Sequence[str | Path], ds: YieldDataset, calibrated: bool = False) -> EnsemblePredictor:
    """An :class:`EnsemblePredictor` of the checkpoints in ``folders`` (each checked against ``ds``).

    ``calibrated``: average each member's calibrated predictions (its card's residual calibration);
    by default the members' own predictions, so that a calibration can be fitted to the ensemble as a whole.

    Raises:
        InputError: ``folders`` is not a list of at least two checkpoint folders, or as :class:`EnsemblePredictor`.
        DataFileError: a card or weights are invalid.
    """
    from geoapp.training.model_kinds import load_yield_checkpoint  # the registry loads ensembles through this module

    if isinstance(folders, (str, Path)) or not isinstance(folders, Sequence):
        raise InputError(f"folders must be a list of checkpoint folders, got {given(folders)}")
    return EnsemblePredictor([load_yield_checkpoint(f, ds, calibrated=calibrated) for f in folders])


def load_ensemble_checkpoint(folder: str | Path, ds: YieldDataset | None = None) -> EnsemblePredictor:
    """The predictor of an ensemble checkpoint: its members (each checked against its hash) averaged.

    The members predict without their own calibrations; the ensemble's card (``predictor.card``)
    holds the calibration of the whole, which :func:`~geoapp.training.model_kinds.load_yield_checkpoint`
    adds.

    Raises:
        DataFileError: a member's folder is missing or its weights differ from the card's hash.
        InputError: a member was trained on other data than ``ds``.
    """
    from geoapp.training.model_kinds import load_yield_checkpoint

    folder = as_path(folder, "folder")
    card = read_card(folder)
    members = []
    for i, entry in enumerate(card["members"]):
        member = folder / entry["path"]
        try:
            digest = weights_sha256(member)
            card_digest = sha256_file(member / CARD)
        except OSError as exc:
            raise DataFileError(
                f"ensemble {str(folder)!r}: member {i} ({entry['path']}) cannot be read ({exc.strerror or exc}); "
                "restore the folder, or write the ensemble again (python -m geoapp train ensemble)"
            ) from exc
        changed = [
            what
            for what, have, want in (
                ("weights", digest, entry["weights_sha256"]),
                ("card", card_digest, entry.get("card_sha256")),
            )
            if want is not None and have != want
        ]
        if changed:
            raise DataFileError(
                f"ensemble {str(folder)!r}: the {' and '.join(changed)} of member {i} ({entry['path']}) are not the ones it "
                "was written with (SHA-256 differs); restore the folder, or write the ensemble again (python -m geoapp train "
                "ensemble)"
            )
        members.append(load_yield_checkpoint(member, ds, calibrated=False))
    predictor = EnsemblePredictor(members)
    predictor.card = card
    return predictor


def write_ensemble(
    folders: Sequence[str | Path], ds: YieldDataset, out: str | Path, calibration: str = "county-trend", force: bool = False
) -> Path:
    """Write an ensemble checkpoint of the checkpoints in ``folders`` to ``out/best``; return that folder.

    The members must be different crop-yield checkpoints of one model trained on ``ds`` with the same
    years, inputs (``exclude_group``) and yield trend (``trend``); seeds and other settings may differ
    (the card's ``train_config`` keeps the settings all members share). Each member's card and weights
    are copied in first, and the ensemble is checked, scored and hashed from the copies (a member
    replaced meanwhile by a training still running cannot make the card describe other weights). The
    card's ``metrics`` score the ensemble's own predictions on the validation and test years;
    ``calibration`` (``none``, ``trend`` or ``county-trend``) is fitted to the ensemble's training-year
    residuals (:func:`~geoapp.training.yield_trainer.calibrate_checkpoint`) before the folder is put in
    place: it is written whole, calibration included, or not at all (nor the folders made for it).

    Raises:
        InputError: fewer than two members, the same checkpoint twice, members of other models, years,
            data, inputs or trend, a member that is itself an ensemble, an unknown calibration (or one
            that cannot be fitted: one training year), or ``out/best`` exists and ``force`` is False.
        DataFileError: a member's card or weights are invalid.
    """
    from geoapp.training.calibration import CALIBRATIONS
    from geoapp.training.yield_trainer import calibrate_checkpoint

    if calibration not in CALIBRATIONS:
        raise InputError(f"calibration must be one of {list(CALIBRATIONS)}, got {given(calibration)}")
    if isinstance(folders, (str, Path)) or not isinstance(folders, Sequence):
        raise InputError(f"folders must be a list of checkpoint folders, got {given(folders)}")
    if len(folders) < 2:
        raise InputError(f"an ensemble needs at least two checkpoints, got {len(folders)}")
    target = as_path(out, "out") / "best"
    if target.exists() and not force:
        raise InputError(f"{str(target)!r} already holds a checkpoint; choose another folder, or replace it with force")
    _check_members(folders, [read_card(f) for f in folders])  # before anything is written
    made = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
    try:
        with atomic_folder(target) as tmp:
            # copied first, then checked, scored and hashed from the copies: a member replaced meanwhile (a
            # training still running) cannot make the card describe other weights than the ones kept
            copies = []
            for i, f in enumerate(folders):
                member = tmp / MEMBERS_DIR / f"m{i}"
                member.mkdir(parents=True)
                for name in (CARD, WEIGHTS):
                    shutil.copy2(Path(f) / name, member / name)
                copies.append(member)
            cards = [read_card(m) for m in copies]
            _check_members(copies, cards)
            ensemble = load_ensemble(copies, ds)
            card = _ensemble_card(folders, copies, cards, ensemble, ds, calibration)
            validate_card(card, tmp / CARD)
            (tmp / CARD).write_text(json.dumps(card, indent=1), encoding="utf-8")
            if calibration != "none":
                calibrate_checkpoint(tmp, ds, calibration)  # in the staging folder: a failure leaves nothing behind
    except BaseException:
        for folder in made:  # the folders made for the ensemble, if still empty
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    return target


def _ensemble_card(
    folders: Sequence[str | Path],
    copies: Sequence[Path],
    cards: list[dict[str, Any]],
    ensemble: EnsemblePredictor,
    ds: YieldDataset,
    calibration: str,
) -> dict[str, Any]:
    """The ensemble's card (module docstring): metrics scored by ``ensemble``, hashes of the ``copies``."""
    years = ensemble.card["years"]
    if calibration != "none" and len(years["train"]) < 2:
        raise InputError(
            f"calibration {calibration!r} fits a trend to the training years' residuals, which needs at least two training "
            f"years; the members have {years['train']}: use calibration 'none'"
        )
    metrics = {}
    for role, year in (("val", years["validation"]), ("test", years["test"])):
        if not ds.labelled(int(year)).empty:
            pred = ensemble.predict(ds, int(year))
            metrics[f"{role}_rmse"], metrics[f"{role}_r2"] = rmse_r2(pred.target, pred.predicted)
    entries = [
        {
            "path": f"{MEMBERS_DIR}/m{i}",
            "source": str(f),
            "seed": (c.get("train_config") or {}).get("seed"),
            "weights_sha256": weights_sha256(copy),
            "card_sha256": sha256_file(copy / CARD),
            "metrics": _own_metrics(c),
        }
        for i, (f, copy, c) in enumerate(zip(folders, copies, cards, strict=True))
    ]
    configs = [c.get("train_config") or {} for c in cards]
    shared = {k: v for k, v in configs[0].items() if all(k in cfg and cfg[k] == v for cfg in configs[1:])}
    # each member adds its own yield trend back (load_yield_checkpoint): the ensemble's card holds none
    dataset = {k: v for k, v in cards[0]["dataset"].items() if k != "yield_trend"}
    return {
        "kind": ENSEMBLE_CARD_KIND,
        "model": cards[0]["model"],
        "dataset": dataset,
        "years": years,
        "members": entries,
        "train_config": {**shared, "seed": None, "calibration": "none"},
        "metrics": metrics,
        "code_version": __version__,
    }


def _check_members(folders: Sequence[str | Path], cards: list[dict[str, Any]]) -> None:
    """Refuse members that would not make one model's ensemble (see :func:`write_ensemble`)."""
    if any(c.get("kind") == ENSEMBLE_CARD_KIND for c in cards):
        raise InputError("an ensemble's members must be single checkpoints, not ensembles; list the members' folders")
    models = sorted({c["model"] for c in cards})
    if len(models) != 1:
        raise InputError(f"an ensemble averages checkpoints of one model, got {models}")
    digests = [weights_sha256(f) for f in folders]
    if len(set(digests)) != len(digests):
        raise InputError("the same checkpoint is listed twice (identical weights); list each member once")
    for setting in ("exclude_group", "trend"):
        values = {json.dumps((c.get("train_config") or {}).get(setting)) for c in cards}
        if len(values) > 1:
            raise InputError(
                f"the members were trained with different {setting} ({sorted(values)}): an ensemble averages models of "
                "the same inputs and targets"
            )


def _own_metrics(card: dict[str, Any]) -> dict[str, Any]:
    """A member's own validation and test RMSE (without the calibration its card may hold)."""
    metrics = dict(card.get("metrics") or {})
    own = (card.get("calibration") or {}).get("uncalibrated_metrics")
    if isinstance(own, dict):
        metrics.update(own)
    return {k: v for k, v in metrics.items() if k in ("val_rmse", "test_rmse")}
