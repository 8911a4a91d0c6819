"""The Training page's ensemble form: combine trained crop-yield checkpoints into one ensemble checkpoint.

What may join one ensemble is what :func:`geoapp.training.ensemble.write_ensemble` accepts: single
checkpoints (not ensembles) of one model trained on the page's dataset for one test year, with the
same training years, inputs and yield trend (the last two are checked on submit and refused with
the reason). The form offers the checkpoints grouped by (model, test year, training years), each labelled with its
seed and validation RMSE, all of a group chosen by default. The ensemble is written in the page's
process to ``checkpoints/user/yield/<name>/best``, whole or not at all; with a calibration each member
predicts every training year first (a few seconds per member on the demo data).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from geoapp.app_support.checkpoints import yield_checkpoints_of
from geoapp.app_support.training import name_or_default
from geoapp.data.dataset import YieldDataset
from geoapp.errors import InputError
from geoapp.jobs.spec import KIND_DIRS, check_run_name, run_folder_used
from geoapp.paths import checkpoint_dir
from geoapp.training.calibration import CALIBRATIONS
from geoapp.training.checkpoint import ENSEMBLE_CARD_KIND, read_card

__all__ = ["ensemble_groups", "member_label", "members_key", "ensemble_form", "CALIBRATION_LABELS"]

CALIBRATION_LABELS: dict[str, str] = {
    "none": "none (the members' mean as it is)",
    "trend": "trend of the residuals",
    "county-trend": "trend + county offsets",
}
"""How the form names each of :data:`~geoapp.training.calibration.CALIBRATIONS`."""

Group = tuple[str, int, tuple[int, ...]]
"""(model, test year, training years) of the checkpoints that may join one ensemble."""


def ensemble_groups(ds: YieldDataset, root: str | Path | None = None) -> dict[Group, list[tuple[Path, dict[str, Any]]]]:
    """The single crop-yield checkpoints trained on ``ds``, grouped by (model, test year, training years), groups of two or more.

    Ensembles are left out (an ensemble's members are single checkpoints). Groups and their checkpoints
    are sorted (model, year, training years; folder), so the form lists them in a stable order.
    """
    found, _broken = yield_checkpoints_of(ds, root)
    groups: dict[Group, list[tuple[Path, dict[str, Any]]]] = {}
    for folder, card in found:
        if card.get("kind") == ENSEMBLE_CARD_KIND:
            continue
        years = card["years"]
        key = (str(card["model"]), int(years["test"]), tuple(int(y) for y in years["train"]))
        groups.setdefault(key, []).append((folder, card))
    return {key: sorted(items, key=lambda fc: str(fc[0])) for key, items in sorted(groups.items()) if len(items) >= 2}


def members_key(group: Group, folders: Sequence[Path]) -> str:
    """The session-state key of the member choice of ``group`` holding ``folders``.

    It changes with the group's checkpoints, so a group that gained or lost one (a seed finished
    training meanwhile) starts again from all of them chosen, rather than from a stale choice.
    """
    digest = hashlib.sha1("\n".join(sorted(str(f) for f in folders)).encode()).hexdigest()[:12]
    return f"te_members_{group[0]}_{group[1]}_{len(group[2])}_{digest}"


def _years_text(years: tuple[int, ...]) -> str:
    """``N_y 10 (2006-2015)``: how many training years and their span."""
    return f"N_y {len(years)} ({years[0]}-{years[-1]})" if years else "no training years"


def member_label(folder: Path, card: dict[str, Any], root: Path) -> str:
    """``<folder relative to root> · seed <s> · val RMSE <bu/acre>`` (what tells a group's checkpoints apart)."""
    try:
        where = str(folder.relative_to(root))
    except ValueError:
        where = str(folder)
    seed = (card.get("train_config") or {}).get("seed")
    metrics = card.get("metrics") if isinstance(card.get("metrics"), dict) else {}
    val = metrics.get("val_rmse")
    parts = [where, f"seed {seed}" if seed is not None else "seed ?"]
    if isinstance(val, int | float) and not isinstance(val, bool):
        parts.append(f"val RMSE {val:.3f}")
    return " · ".join(parts)


def ensemble_form(ds: YieldDataset) -> Path | None:
    """Draw the form (in an expander) and, on submit, write the ensemble; returns its folder when written.

    Raises:
        InputError: a run name that is not allowed or already used (a folder of that name holds anything:
            a finished run, or one still training), or what :func:`~geoapp.training.ensemble.write_ensemble`
            refuses (fewer than two members, members that differ in inputs or trend); the page's error
            box shows it.
    """
    from geoapp.training.ensemble import write_ensemble

    root = checkpoint_dir()
    groups = ensemble_groups(ds, root)
    with st.expander("Combine trained checkpoints into an ensemble", expanded=bool(st.session_state.get("_ens_written"))):
        st.caption(
            "The ensemble predicts the mean of its members' predictions: seeds of one model usually err "
            "differently, so their mean is steadier than any one of them. Its calibration is fitted to the "
            "ensemble's own training-year residuals."
        )
        if note := st.session_state.pop("_ens_written", None):
            st.success(note)
        if not groups:
            st.info(
                "An ensemble needs two or more checkpoints of one model and test year trained on this dataset "
                f"({ds.title}): train the same model with other seeds above, then come back here."
            )
            return None
        group = st.selectbox(
            "Model, test year and training years",
            list(groups),
            format_func=lambda k: f"{k[0]} · test {k[1]} · {_years_text(k[2])} ({len(groups[k])} checkpoints)",
            key="te_group",
        )
        labels = {str(f): member_label(f, c, root) for f, c in groups[group]}
        chosen = st.multiselect(
            "Members",
            list(labels),
            default=list(labels),
            format_func=labels.get,
            key=members_key(group, [f for f, _ in groups[group]]),
            help="two or more, with the same inputs and yield trend",
        )
        c = st.columns(2)
        calibration = c[0].selectbox(
            "Residual calibration",
            list(CALIBRATIONS),
            index=list(CALIBRATIONS).index("county-trend"),
            format_func=CALIBRATION_LABELS.get,
            key="te_calibration",
        )
        default = f"{group[0]}-ensemble-{group[1]}"
        if st.session_state.pop("_ens_clear_name", False):
            st.session_state["te_name"] = ""
        typed = c[1].text_input(
            "Run name",
            key="te_name",
            placeholder=f"default: {default}-<date-time>",
            help=f"the checkpoint folder: checkpoints/user/yield/<name>; left empty: {default}-<date-time>",
        )
        if not st.button("Write ensemble", type="primary", key="te_write"):
            return None
    name = check_run_name(name_or_default(typed, default))
    out = root / "user" / KIND_DIRS["yield"] / name
    if run_folder_used(out):
        raise InputError(f"a run named {name!r} already exists in {str(out)!r}; choose another name")
    members = [Path(folder) for folder in chosen]
    years = "the validation, test and training years" if calibration != "none" else "the validation and test years"
    with st.spinner(f"Writing the ensemble of {len(members)}: each member predicts {years}"):
        best = write_ensemble(members, ds, out, calibration=calibration)
    metrics = read_card(best).get("metrics") or {}
    scores = ", ".join(
        f"{role} RMSE {metrics[f'{role}_rmse']:.3f}" for role in ("val", "test") if isinstance(metrics.get(f"{role}_rmse"), float)
    )
    st.session_state["_ens_clear_name"] = True  # the next run empties the name box (before it is drawn)
    st.session_state["_ens_written"] = (
        f"Ensemble of {len(members)} written to checkpoints/{best.relative_to(root)}"
        + (f" ({scores} bu/acre)" if scores else "")
        + ": it is in every page's model selector."
    )
    st.rerun()
    return best  # pragma: no cover  (st.rerun ends the script run)
