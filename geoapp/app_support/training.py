"""Pieces of the Training page: the hyperparameter forms, the live job panel and the job history.

The forms start from the trainers' defaults (the paper's values where it gives them) and build a
:class:`~geoapp.jobs.spec.JobSpec`; the spec's own validation refuses bad values with the reason. The
job itself runs in a separate process (:mod:`geoapp.jobs.runner`); the panel polls its status file
every second with ``st.fragment(run_every=...)``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from geoapp.app_support.loaders import available_datasets, open_datasets
from geoapp.app_support.page import error_box
from geoapp.app_support.provenance import source_count_text
from geoapp.config import ConfigField, config_fields
from geoapp.data.dataset import YieldDataset
from geoapp.errors import DataFileError, GeoappError
from geoapp.jobs.runner import JobBusyError, JobRunner
from geoapp.jobs.spec import MAX_WORKERS, JobSpec, default_config
from geoapp.jobs.status import ACTIVE_STATES, BROKEN
from geoapp.models.yield_losses import DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_GAMMA
from geoapp.training.attention_trainer import ATTENTION_APPLIES, SUPERVISED_APPLIES, load_attention
from geoapp.training.forest_trainer import FOREST_APPLIES, load_forest
from geoapp.training.location_trainer import LocationTrainConfig
from geoapp.training.metrics_log import read_metrics
from geoapp.training.model_kinds import MODEL_KINDS, ModelKind, model_kind
from geoapp.training.network_trainer import NETWORK_APPLIES, load_network, network_applies
from geoapp.training.ridge_trainer import RIDGE_APPLIES, load_ridge_predictor
from geoapp.training.yield_runs import ALWAYS_APPLIES
from geoapp.training.yield_trainer import YieldTrainConfig, nested_years
from geoapp.viz.training_charts import VALIDATION_METRIC, training_curves

__all__ = [
    "runner",
    "training_dataset",
    "yield_form",
    "location_form",
    "start_job",
    "ignored_note",
    "used_settings",
    "ignored_settings",
    "ignored_settings_note",
    "jobs_section",
    "job_panel",
    "job_history",
    "STATE_BADGES",
]

STATE_BADGES = {
    "starting": ":blue-badge[starting]",
    "running": ":blue-badge[running]",
    "cancelling": ":orange-badge[cancelling]",
    "finished": ":green-badge[finished]",
    "cancelled": ":gray-badge[cancelled]",
    "failed": ":red-badge[failed]",
    BROKEN: ":red-badge[broken]",
}


def runner() -> JobRunner:
    """The workspace's job runner (``$GEOAPP_JOBS_DIR`` or ``<repo>/jobs``)."""
    return JobRunner()


def _stamp() -> str:
    return time.strftime("%m%d-%H%M%S")


def _run_name(col, key: str, default: str, folder: str) -> str:
    """The run-name box, empty unless the user types a name; ``default`` (a pattern) shows as its placeholder.

    The name itself is composed at submit (:func:`name_or_default`) from the submitted values: inside
    a form, a default computed while drawing would keep the model and year of the first draw. The box
    is emptied after each started job (``_fresh_<key>``, set by :func:`start_job`), so the next job
    gets a fresh default name rather than the one just used.
    """
    if st.session_state.pop(f"_fresh_{key}", False):
        st.session_state[key] = ""
    return col.text_input(
        "Run name",
        key=key,
        placeholder=f"default: {default}",
        help=f"the checkpoint folder: checkpoints/user/{folder}/<name>; left empty: {default}",
    )


def name_or_default(typed: str, default: str) -> str:
    """The run name: the one typed (stripped; validated by the job spec), else ``default`` with a time stamp."""
    return typed.strip() or f"{default}-{_stamp()}"


YIELD_FIELDS: dict[str, ConfigField] = {f.name: f for f in config_fields(YieldTrainConfig)}
"""The crop-yield config's fields: the form takes its choices and help from them, as the CLI does."""
LOCATION_FIELDS: dict[str, ConfigField] = {f.name: f for f in config_fields(LocationTrainConfig)}
"""The location config's fields (choices and help), shared with the CLI."""


YIELD_LABELS: dict[str, str] = {
    "size": "Model size",
    "epochs": "Epochs",
    "patience": "Early-stopping patience",
    "batch_size": "Batch size",
    "lr": "Learning rate",
    "model_overrides": "alpha/beta/gamma loss weights",
    "seed": "Seed",
    "r_n_km": "r_n spatial neighbour (km)",
    "r_d_km": "r_d spatial distant (km)",
    "max_train_examples": "Max training examples (0 = all)",
    "exclude_group": "Leave out feature group",
    "augment": "Tile augmentation",
    "ema": "Weight averaging (EMA decay, 0 = off)",
    "trend": "Yield trend",
    "calibration": "Residual calibration",
    "precision": "Precision",
    "compile": "Compile the training step",
    "loader_workers": "Loader workers",
    "device": "Device",
    "temporal_neighbour": "Temporal neighbour TN",
}
"""The crop-yield form's settings that a model kind may ignore (config field -> the form's label), in the
form's order; ``model_overrides`` stands for the loss weights alpha, beta and gamma. Model, test year
and N_y apply to every kind; Workers is refused, not ignored, for a kind that trains in one process."""

_APPLIES_BY_LOADER: dict[object, tuple[str, ...]] = {
    load_attention: ATTENTION_APPLIES,
    load_network: NETWORK_APPLIES,
    load_forest: FOREST_APPLIES,
    load_ridge_predictor: RIDGE_APPLIES,
}
"""The fields each trainer uses (what it records as its card's ``applies``), by the registry kind's ``load``."""


def used_settings(kind: ModelKind) -> tuple[str, ...] | None:
    """The :class:`YieldTrainConfig` fields a registry kind uses (its card's ``applies``); None if not known.

    The registry's kinds name their trainer (through ``load``); each trainer lists the fields it uses.
    The attention kinds without context tiles (``inputs`` not ``tiles+context``) use neither the
    spatial radii nor the temporal neighbour, as their cards record; every kind uses the trend and the
    calibration (:data:`~geoapp.training.yield_runs.ALWAYS_APPLIES`).
    """
    applies = _APPLIES_BY_LOADER.get(kind.load)
    if applies is None:
        return None
    if applies is ATTENTION_APPLIES and kind.inputs != "tiles+context":
        applies = SUPERVISED_APPLIES
    if applies is NETWORK_APPLIES:
        applies = network_applies(kind.inputs)
    return (*applies, *(f for f in ALWAYS_APPLIES if f not in applies))


def ignored_settings(model: str) -> list[str]:
    """The labels of the crop-yield form's settings that ``model`` ignores, in the form's order.

    The loss weights (alpha, beta, gamma) count only for the kinds trained with context tiles: the
    form passes them to no other kind.

    Raises:
        InputError: an unknown model name.
    """
    kind = model_kind(model)
    used = set(used_settings(kind) or YIELD_LABELS)
    if kind.inputs != "tiles+context":
        used.discard("model_overrides")
    return [label for field, label in YIELD_LABELS.items() if field not in used]


def ignored_settings_note() -> str:
    """Markdown for under the form: one bullet per group of models ignoring the same settings, fewest first."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in MODEL_KINDS:
        groups.setdefault(tuple(ignored_settings(name)), []).append(name)
    lines = [
        f"- **{', '.join(names)}**: " + (" · ".join(ignored) if ignored else "none (every setting is used)")
        for ignored, names in sorted(groups.items(), key=lambda g: len(g[0]))
    ]
    return "\n".join(lines)


LOADER_CHOICES: tuple[str | int, ...] = ("auto", 0, 1, 2, 4, 8)
"""The Training page's choices of ``loader_workers``: auto (0 on the CPU, min(8, CPUs - 1) on a GPU) or a count."""


def _choice(col, label: str, field: str, names: dict[str, str], key: str | None = None) -> str:
    """A selectbox in ``col`` over a :class:`YieldTrainConfig` field's choices, named by ``names``, with the field's help."""
    spec = YIELD_FIELDS[field]
    return col.selectbox(label, list(spec.choices or ()), key=key or f"ty_{field}", format_func=names.get, help=spec.help)


def _device_fields(prefix: str, cols) -> tuple[str, int]:
    field = YIELD_FIELDS["device"]
    device = cols[0].selectbox("Device", list(field.choices or ()), key=f"{prefix}_device", help=field.help)
    workers = cols[1].number_input(
        "Workers (torchrun)",
        1,
        MAX_WORKERS,
        1,
        key=f"{prefix}_workers",
        help="more than 1: data-parallel training with DistributedDataParallel (nccl on GPUs, gloo on CPU)",
    )
    return device, int(workers)


def training_dataset(sidebar: YieldDataset | None) -> YieldDataset:
    """The dataset a crop-yield job trains on: a choice above the form, the sidebar's dataset by default.

    It sits outside the form so the test years follow the chosen dataset at once. Changing the
    sidebar's dataset makes it the default again.
    """
    opened, broken = open_datasets(available_datasets())
    if not opened:
        detail = "; ".join(f"{b.path}: {b.reason}" for b in broken)
        raise DataFileError(f"no dataset can be opened to train on ({detail}); fix or rebuild the dataset folder")
    paths = list(opened)
    default = str(sidebar.root) if sidebar is not None else None
    if st.session_state.get("_ty_dataset_from") != default or st.session_state.get("ty_dataset") not in paths:
        st.session_state["ty_dataset"] = default if default in paths else paths[0]
        st.session_state["_ty_dataset_from"] = default
    labels = {p: ds.title for p, ds in opened.items()}
    path = st.selectbox(
        "Dataset",
        paths,
        format_func=lambda p: labels.get(p, p),
        key="ty_dataset",
        help="the dataset folder the job trains on; its checkpoints are offered only for this dataset",
    )
    ds = opened[path]
    if ds.simulated:
        st.caption(f"⚠️ Trains on {ds.title}: simulated data, not observations.")
    else:
        st.caption(f"Trains on {ds.title}: real data ({source_count_text(ds)}), in `{ds.root}`.")
    return ds


def yield_form(ds: YieldDataset) -> JobSpec | None:
    """The crop-yield training form; returns the spec when submitted (InputError on bad values).

    The run name is composed from the submitted model and test year when none was typed. Under the
    form an expander lists the settings each model ignores (the registry's kinds, :func:`ignored_settings`);
    once a job has started (:func:`start_job`), a note under the form names those its model ignores.
    """
    d = default_config("yield")
    f = YIELD_FIELDS
    label = YIELD_LABELS
    valid_years = [y for y in ds.years if y - 2 >= ds.years[0]]
    with st.form("train_yield_form"):
        c = st.columns(4)
        model = c[0].selectbox(
            "Model",
            list(f["model"].choices or ()),
            key="ty_model",
            help=f["model"].help,
        )
        test_year = c[1].selectbox(
            "Test year",
            valid_years,
            index=len(valid_years) - 1,
            key="ty_test_year",
            help=f["test_year"].help,
        )
        n_max = max(1, len(ds.years) - 2)  # the last test year keeps one validation year before it
        if "ty_n_years" in st.session_state:  # chosen on a longer dataset: brought within this one's bound
            st.session_state["ty_n_years"] = min(int(st.session_state["ty_n_years"]), n_max)
        n_years = c[2].number_input(
            "Training years N_y",
            1,
            n_max,
            "min" if "ty_n_years" in st.session_state else min(d["n_train_years"], n_max),
            key="ty_n_years",
            help=f"{f['n_train_years'].help} At most {n_max} on this dataset ({ds.years[0]}-{ds.years[-1]}); an earlier "
            "test year allows fewer.",
        )
        size = c[3].selectbox(
            label["size"], sorted(f["size"].choices or (), key=lambda v: v != "demo"), key="ty_size", help=f["size"].help
        )
        c = st.columns(4)
        epochs = c[0].number_input(label["epochs"], 1, 500, d["epochs"], key="ty_epochs", help=f["epochs"].help)
        patience = c[1].number_input(label["patience"], 1, 500, d["patience"], key="ty_patience", help=f["patience"].help)
        batch = c[2].number_input(label["batch_size"], 2, 4096, d["batch_size"], key="ty_batch", help=f["batch_size"].help)
        lr = c[3].number_input(label["lr"], 0.0, 1.0, d["lr"], format="%.5f", step=1e-4, key="ty_lr", help=f["lr"].help)
        c = st.columns(4)
        alpha = c[0].number_input("alpha (unsupervised weight)", 0.0, 100.0, DEFAULT_ALPHA, format="%.4f", key="ty_alpha")
        beta = c[1].number_input("beta (temporal)", 0.0, 100.0, DEFAULT_BETA, format="%.4f", key="ty_beta")
        gamma = c[2].number_input("gamma (hypersphere)", 0.0, 100.0, DEFAULT_GAMMA, format="%.4f", key="ty_gamma")
        seed = c[3].number_input(label["seed"], 0, 2**31 - 1, d["seed"], key="ty_seed", help=f["seed"].help)
        c = st.columns(4)
        r_n = c[0].number_input(label["r_n_km"], 0.0, 5000.0, d["r_n_km"], key="ty_rn", help=f["r_n_km"].help)
        r_d = c[1].number_input(label["r_d_km"], 0.0, 5000.0, d["r_d_km"], key="ty_rd", help=f["r_d_km"].help)
        max_ex = c[2].number_input(label["max_train_examples"], 0, 10**7, 0, key="ty_max_ex", help=f["max_train_examples"].help)
        exclude = c[3].selectbox(
            label["exclude_group"],
            ["none", *(f["exclude_group"].choices or ())],
            key="ty_exclude",
            help=f"{f['exclude_group'].help}; the Feature ablation page compares such runs",
        )
        c = st.columns(4)
        trend = _choice(c[0], label["trend"], "trend", {"none": "none (paper)", "linear": "linear, fitted on the training years"})
        calibration = _choice(
            c[1],
            label["calibration"],
            "calibration",
            {"none": "none (paper)", "trend": "trend of the residuals", "county-trend": "trend + county offsets"},
        )
        precision = _choice(
            c[2],
            label["precision"],
            "precision",
            {
                "auto": "auto (float16 on a GPU, float32 on the CPU)",
                "float32": "float32",
                "bfloat16": "bfloat16 mixed precision",
            },
        )
        compiled = c[3].checkbox(label["compile"], key="ty_compile", help=f["compile"].help)
        c = st.columns(4)
        loader = c[0].selectbox(
            label["loader_workers"], LOADER_CHOICES, key="ty_loader", help=f["loader_workers"].help, format_func=str
        )
        augment = _choice(
            c[1], label["augment"], "augment", {"none": "none (paper)", "dihedral": "dihedral: rotations and mirror images"}
        )
        ema = c[2].number_input(
            label["ema"], 0.0, 0.9999, float(d["ema"]), step=0.005, format="%.4f", key="ty_ema", help=f["ema"].help
        )
        c = st.columns([1, 1, 1, 2])
        device, workers = _device_fields("ty", c)
        tn = _choice(
            c[2],
            label["temporal_neighbour"],
            "temporal_neighbour",
            {"month": "previous month (paper)", "year": "previous year"},
            key="ty_tn",
        )
        typed = _run_name(c[3], "ty_name", "<model>-<test year>-<date-time>", "yield")
        submitted = st.form_submit_button("Start training", type="primary")
    with st.expander("Settings each model ignores"):
        st.markdown(
            "A model uses only the settings it needs; the others are recorded in the job's config but have "
            "no effect.\n\n" + ignored_settings_note()
        )
    if note := st.session_state.pop("_train_started_note", None):  # the job started by the last submit
        st.info(note)
    if not submitted:
        return None
    config = {
        "model": model,
        "size": size,
        "test_year": int(test_year),
        "n_train_years": int(n_years),
        "epochs": int(epochs),
        "patience": int(patience),
        "batch_size": int(batch),
        "lr": float(lr),
        "r_n_km": float(r_n),
        "r_d_km": float(r_d),
        "seed": int(seed),
        "device": device,
        "max_train_examples": int(max_ex),
        "exclude_group": None if exclude == "none" else exclude,
        "temporal_neighbour": tn,
        "augment": augment,
        "ema": float(ema),
        "trend": trend,
        "calibration": calibration,
        "precision": precision,
        "compile": bool(compiled),
        "loader_workers": None if loader == "auto" else int(loader),
    }
    nested_years(int(test_year), int(n_years), ds.years)  # refuses a test year without enough years before it
    if MODEL_KINDS[model].inputs == "tiles+context":  # the loss weights of Eq. 2 (models with context tiles)
        config["model_overrides"] = {"alpha": float(alpha), "beta": float(beta), "gamma": float(gamma)}
    name = name_or_default(typed, f"{model}-{int(test_year)}")
    return JobSpec("yield", name, config, workers=workers, dataset=str(ds.root))


def location_form() -> JobSpec | None:
    """The location-encoder training form; returns the spec when submitted (InputError on bad values)."""
    d = default_config("location")
    f = LOCATION_FIELDS
    with st.form("train_location_form"):
        c = st.columns(4)
        epochs = c[0].number_input("Epochs", 1, 500, d["epochs"], key="tl_epochs", help=f["epochs"].help)
        batch = c[1].number_input("Batch size", 2, 65536, d["batch_size"], key="tl_batch", help=f["batch_size"].help)
        lr = c[2].number_input("Learning rate", 0.0, 1.0, d["lr"], format="%.5f", step=1e-4, key="tl_lr", help=f["lr"].help)
        seed = c[3].number_input("Seed", 0, 2**31 - 1, d["seed"], key="tl_seed", help=f["seed"].help)
        c = st.columns(4)
        degree = c[0].number_input(
            "Spherical-harmonics degree L", 1, 100, d["sh_degree"], key="tl_degree", help=f["sh_degree"].help
        )
        hidden = c[1].number_input("SIREN width", 1, 4096, d["hidden_dim"], key="tl_hidden", help=f["hidden_dim"].help)
        layers = c[2].number_input("SIREN hidden layers", 1, 16, d["num_layers"], key="tl_layers", help=f["num_layers"].help)
        embed = c[3].number_input("Embedding size D", 1, 4096, d["embed_dim"], key="tl_embed", help=f["embed_dim"].help)
        c = st.columns(4)
        n_train = c[0].number_input("Training locations", 2, 10**7, d["n_train"], key="tl_n_train", help=f["n_train"].help)
        n_val = c[1].number_input("Validation locations", 1, 10**6, d["n_val"], key="tl_n_val", help=f["n_val"].help)
        footprint = c[2].number_input(
            "Patch footprint (km)", 1.0, 5000.0, d["footprint_km"], key="tl_footprint", help=f["footprint_km"].help
        )
        c = st.columns([1, 1, 2])
        device, workers = _device_fields("tl", c)
        typed = _run_name(c[2], "tl_name", "sh-siren-<date-time>", "location")
        if not st.form_submit_button("Start training", type="primary"):
            return None
    config = {
        "epochs": int(epochs),
        "batch_size": int(batch),
        "lr": float(lr),
        "seed": int(seed),
        "sh_degree": int(degree),
        "hidden_dim": int(hidden),
        "num_layers": int(layers),
        "embed_dim": int(embed),
        "n_train": int(n_train),
        "n_val": int(n_val),
        "footprint_km": float(footprint),
        "device": device,
    }
    return JobSpec("location", name_or_default(typed, "sh-siren"), config, workers=workers)


def ignored_note(spec: JobSpec) -> str | None:
    """What a started crop-yield job's model ignores of the form's settings (None: it uses them all)."""
    model = spec.config.get("model", YIELD_FIELDS["model"].default) if spec.kind == "yield" else None
    if model is None or not (ignored := ignored_settings(model)):
        return None
    return (
        f"Started **{spec.name}**. **{model}** ignores these settings: {' · '.join(ignored)}. "
        "They are recorded in the job's config but have no effect."
    )


def start_job(spec: JobSpec) -> None:
    """Start ``spec``'s job (a busy runner: an error box) and rerun the page to show it.

    The rerun empties the run-name boxes (a typed name is not offered for the next job, whose default
    name is fresh) and shows, below the crop-yield form, which settings the job's model ignores.
    """
    try:
        job = runner().start(spec)
    except JobBusyError as exc:
        st.error(str(exc))
        return
    st.session_state["train_job"] = st.session_state["train_show"] = job  # show the new job
    st.session_state["_fresh_ty_name"] = st.session_state["_fresh_tl_name"] = True  # fresh default names next time
    if note := ignored_note(spec):
        st.session_state["_train_started_note"] = note
    st.rerun()


def _fmt_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    s = int(round(s))
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


def _one_step_model(job_id: str) -> bool | None:
    """Whether the job's model is fitted in one step (a kind that trains no epochs: ridge, RF); None if unknown."""
    try:
        spec = runner().spec(job_id)
        return spec.kind == "yield" and not model_kind(str(spec.config.get("model"))).resumable
    except (GeoappError, OSError, ValueError):  # a damaged or missing spec: judged from the counts alone
        return None


def _progress(status: dict[str, Any], one_step: bool | None = None) -> tuple[float, str]:
    """The progress bar's fraction and text.

    A finished job reads as done: its last epoch (stopped early, when it did) with every step of it,
    and no ETA. A model fitted in one go (ridge, RF: ``one_step``; when unknown, one epoch of one step)
    has no epochs or steps to count, so its text says so instead of "step 0/1".
    """
    epochs, steps = status.get("epochs") or 0, status.get("steps") or 0
    epoch, step = status.get("epoch") or 0, status.get("step") or 0
    state = status.get("state")
    if not epochs or not steps:
        return 0.0, "waiting for the worker to start…"
    one_go = (epochs == 1 and steps == 1) if one_step is None else one_step
    if state == "finished":
        if one_go:
            return 1.0, "done: fitted in one step"
        early = " (stopped early)" if status.get("stopped_early") else ""
        return 1.0, f"done · epoch {epoch}/{epochs}{early} · step {steps}/{steps}"
    done = min(1.0, ((epoch - 1) * steps + step) / (epochs * steps))
    if one_go:
        return done, "fitting in one step…" if state in ACTIVE_STATES else "one-step fit, not done"
    return done, f"epoch {epoch}/{epochs} · step {step}/{steps} · ETA {_fmt_seconds(status.get('eta_s'))}"


def job_panel(job_id: str) -> None:
    """Status, progress bar, curves, log tail and the cancel / resume buttons of one job."""
    jobs = runner()
    status = jobs.status(job_id)
    state = status.get("state", "starting")
    kind = status.get("kind", "yield")
    st.markdown(
        f"**{status.get('name')}** ({kind}) {STATE_BADGES.get(state, state)} · job `{job_id}` · "
        f"{status.get('device') or 'device not chosen yet'} · {status.get('world_size') or status.get('workers', 1)} worker(s)"
    )
    fraction, text = _progress(status, _one_step_model(job_id))
    st.progress(fraction, text=text)
    cols = st.columns(4)
    metrics = status.get("metrics") or {}
    key, label = VALIDATION_METRIC.get(kind, VALIDATION_METRIC["yield"])
    cols[0].metric("Last step loss", f"{status['loss']:.3f}" if isinstance(status.get("loss"), float) else "–")
    cols[1].metric(label, f"{metrics[key]:.3f}" if isinstance(metrics.get(key), float) else "–")
    end = status.get("finished") if state not in ACTIVE_STATES and status.get("finished") else time.time()
    cols[2].metric("Elapsed", _fmt_seconds(end - status["started"]) if status.get("started") else "–")
    cols[3].metric("ETA", _fmt_seconds(status.get("eta_s")) if state in ACTIVE_STATES else "–")
    if state in ACTIVE_STATES:
        if st.button(
            "Cancel",
            key=f"cancel_{job_id}",
            disabled=state == "cancelling",
            help="stops at the next step; the last finished epoch is kept to resume from",
        ):
            jobs.cancel(job_id)
            st.rerun(scope="fragment")
    elif state in ("failed", "cancelled"):
        if status.get("error"):
            st.error(status["error"])
        if st.button("Resume", key=f"resume_{job_id}", help="continue from the last finished epoch"):
            jobs.resume(job_id)
            st.rerun(scope="fragment")
    elif state == BROKEN:
        st.error(f"This job cannot be watched, resumed or cancelled: {status.get('error')}")
    elif state == "finished":
        st.success(f"Finished. Best checkpoint: `{status.get('checkpoint')}`; it is now in the model selectors.")
    records = read_metrics(Path(status["out"]) / "metrics.jsonl") if status.get("out") else []
    if records:
        st.plotly_chart(training_curves(records, kind, "Training curves"), width="stretch", key=f"curves_{job_id}_{len(records)}")
    with st.expander("Log (last lines)", expanded=state in ("failed",)):
        st.code("\n".join(jobs.log(job_id, 30)) or "(empty)", language=None)


def job_history() -> pd.DataFrame:
    """One row per job, newest first: id, name, kind, state, epochs run, validation metric, started."""
    rows = []
    for s in runner().list_jobs():
        key = VALIDATION_METRIC.get(s.get("kind"), VALIDATION_METRIC["yield"])[0]
        rows.append(
            {
                "job": s.get("job_id"),
                "name": s.get("name"),
                "kind": s.get("kind"),
                "state": s.get("state"),
                "epoch": f"{(s.get('metrics') or {}).get('epoch', 0)}/{s.get('epochs') or '?'}",
                "validation": (s.get("metrics") or {}).get(key),
                "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(s.get("created", 0))),
                "attempts": s.get("attempts"),
            }
        )
    return pd.DataFrame(rows)


def jobs_section() -> None:
    """The job chooser, the chosen job's panel and the history (the page reruns it every second)."""
    with error_box():  # a fragment rerun does not pass through the page's own error boxes
        history = job_history()
        ids = list(history["job"]) if len(history) else []
        if not ids:
            st.info("No training job yet: fill in the form and press Start training.")
            return
        wanted = st.session_state.get("train_job")
        active = runner().active_job()
        shown = wanted if wanted in ids else active if active in ids else ids[0]
        names = history.set_index("job")
        st.subheader("Job")
        job = st.selectbox(
            "Show job",
            ids,
            index=ids.index(shown),
            key="train_show",
            format_func=lambda j: f"{j} · {names.loc[j, 'name']} · {names.loc[j, 'state']}",
        )
        st.session_state["train_job"] = job
        with error_box():  # one job that cannot be shown leaves the history below usable
            job_panel(job)
        st.subheader("History")
        st.dataframe(history, hide_index=True, width="stretch")
