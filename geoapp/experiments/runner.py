"""Run a plan: train and score every run that has no result yet, one line of progress per run.

Resumable: a run whose ``ok`` result is in the store is skipped; a run folder that a stopped runner
left half-trained (it has a ``last/`` checkpoint) resumes from it (or starts anew when it cannot be
resumed: trained with other settings, e.g. an earlier version's defaults, or its ``best/`` lost or
damaged), one left with anything else is restarted cleanly (its old content is replaced). A run that
fails (a bad configuration, a diverged loss, a model the trainer cannot train yet) is recorded as
``failed`` with its error and the runner goes on; it is tried again by the next ``run``. Interrupting
(Ctrl-C) stops at once; the finished runs are in the store.

Several runners may share a plan (one per core, say): each run is claimed
(:func:`~geoapp.experiments.claim.claim_run`) before it trains, and a run that another live runner
holds, that one finished meanwhile, or that the Experiments page's queue started as a job is skipped.

Training and scoring go through one injectable function (:data:`TrainFn`, default
:func:`train_and_score`: :func:`~geoapp.training.yield_trainer.train_yield`, or
:func:`~geoapp.training.ridge_trainer.train_ridge` while the yield trainer does not take ``ridge``,
then :func:`~geoapp.training.yield_trainer.evaluate_yield` on the run's test year).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoapp.data.args import given
from geoapp.errors import GeoappError, InputError
from geoapp.experiments.claim import Claim, claim_run, training_now, training_seconds
from geoapp.experiments.plan import Plan, RunSpec, check_plan
from geoapp.experiments.store import (
    FAILED,
    OK,
    ResultStore,
    StoreWarning,
    latest_results,
    make_record,
    record_key,
    runs_root,
)

__all__ = [
    "TrainFn",
    "RunSummary",
    "train_and_score",
    "score_run",
    "validation_scores",
    "calibrate_results",
    "validation_results",
    "budget_results",
    "run_budget",
    "run_plan",
    "trainer_models",
    "format_seconds",
]

TrainFn = Callable[[RunSpec, Any, Path], dict[str, Any]]
"""``(run, dataset, run folder) -> {"rmse", "r2", "n", "year", "checkpoint", "config"}``; raises on failure."""


def trainer_models() -> tuple[str, ...]:
    """Model names :class:`~geoapp.training.yield_trainer.YieldTrainConfig` accepts (read now: it grows)."""
    from geoapp.config import config_fields
    from geoapp.training.yield_trainer import YieldTrainConfig

    return tuple(next(f.choices for f in config_fields(YieldTrainConfig) if f.name == "model") or ())


def train_and_score(run: RunSpec, ds: Any, folder: Path) -> dict[str, Any]:
    """Train ``run`` into ``folder`` (resuming a half-trained run) and score its best checkpoint on the test year.

    Returns:
        ``rmse`` (bu/acre), ``r2``, ``n`` (counties scored), ``year``, ``checkpoint`` (the ``best/``
        folder) and ``config`` (the training configuration the checkpoint's card records).

    Raises:
        InputError: the model cannot be trained here, or the configuration is refused by the trainer.
        GeoappError: whatever the trainer or the evaluation raises.
    """
    from geoapp.training.checkpoint import has_last_checkpoint, read_card
    from geoapp.training.resume import CannotResumeError
    from geoapp.training.yield_trainer import YieldTrainConfig, nested_years, train_yield

    folder = Path(folder)
    if run.model in trainer_models():
        cfg = YieldTrainConfig.from_dict(run.train_config())
        resume = has_last_checkpoint(folder)
        try:
            best = train_yield(cfg, ds, folder, resume=resume, progress=False, force=not resume)
        except CannotResumeError:  # other settings (an older default), a lost best/, a damaged card: start anew
            best = train_yield(cfg, ds, folder, resume=False, progress=False, force=True)
    elif run.model == "ridge":  # the closed-form baseline, for as long as train_yield does not take it
        from geoapp.training.ridge_trainer import train_ridge

        if run.exclude_group is not None:
            raise InputError(f"ridge is fitted on every input; it cannot leave out {run.exclude_group} (exclude_group)")
        train, val, test = nested_years(run.test_year, run.n_train_years, ds.years)
        best = train_ridge(ds, train, val, test, folder, force=True)
    else:
        raise InputError(f"the crop-yield trainer cannot train {run.model!r} yet; it trains {list(trainer_models())} and ridge")
    card = read_card(best)
    return {**score_run(best, ds, run.test_year), "checkpoint": best, "config": card.get("train_config") or run.train_config()}


def score_run(best: str | Path, ds: Any, year: int) -> dict[str, Any]:
    """A run's scores on its test year: ``rmse`` (bu/acre), ``r2``, ``n``, ``year``, ``validation`` and ``calibrated``.

    ``rmse`` and ``r2`` score the model's own predictions (without a calibration its card may hold);
    ``validation`` holds the same scores on the run's validation year (:func:`validation_scores`), what a
    choice between runs may look at; ``calibrated`` holds the scores under each residual calibration
    fitted to the model's training-year residuals
    (:func:`~geoapp.training.yield_trainer.calibrated_scores`: ``trend`` and ``county-trend``), the
    checkpoint itself unchanged: the report sets them beside the model's own. It is absent when no
    calibration can be fitted (a single training year).
    """
    from geoapp.training.yield_trainer import calibrated_scores, evaluate_yield

    scores = evaluate_yield(best, ds, year, calibrated=False)  # the model's own, even if its card holds a calibration
    out = {k: scores[k] for k in ("rmse", "r2", "n", "year")}
    try:
        out["validation"] = validation_scores(best, ds, year)
    except GeoappError:  # e.g. a validation year with one distinct yield: the run keeps its test scores
        pass
    try:
        out["calibrated"] = calibrated_scores(best, ds, year)
    except InputError:  # e.g. one training year: no trend to fit; the run keeps its own scores
        pass
    try:
        budget = run_budget(best, ds, year, scores["table"])
    except InputError:  # a simulated dataset changed since it was built: no budget, the scores stand
        budget = None
    if budget is not None:
        out["budget"] = budget
    return out


def validation_scores(best: str | Path, ds: Any, year: int | None = None) -> dict[str, Any]:
    """A checkpoint's scores on its validation year: ``rmse`` (bu/acre), ``r2``, ``n`` and ``year``.

    The validation year is the one its card names (the test year - 1 of the nested validation). It
    chose the checkpoint's epoch (early stopping), so its RMSE is optimistic for that run; it is
    the score to compare runs by when choosing a setting (the report's context-loss weight section),
    never the test year. ``year`` is the run's test year, only checked against the card.

    Raises:
        InputError: the card's validation year is not in the dataset, or its test year is not ``year``.
    """
    from geoapp.training.checkpoint import read_card
    from geoapp.training.yield_trainer import evaluate_yield

    years = read_card(best).get("years")
    years = years if isinstance(years, Mapping) else {}
    validation = years.get("validation")
    if isinstance(validation, bool) or not isinstance(validation, int):
        raise InputError(f"checkpoint {str(best)!r} names no validation year in its card (years: {given(years)})")
    if year is not None and years.get("test") not in (None, int(year)):
        raise InputError(f"checkpoint {str(best)!r} was tested on {years.get('test')}, not {year}")
    scores = evaluate_yield(best, ds, validation, calibrated=False)
    return {k: scores[k] for k in ("rmse", "r2", "n", "year")}


def run_budget(best: str | Path, ds: Any, year: int, table: Any = None) -> dict[str, Any] | None:
    """A run's error budget on its test year (:mod:`geoapp.analysis.error_budget`), compact; None for real data.

    Scores the model's own predictions (``table``, from ``evaluate_yield(..., calibrated=False)``, or
    predicted here). Returns ``rmse_vs_expected`` and ``bias`` (bu/acre, against the noise-free yield),
    ``joint_r2`` and ``missed``: the missed share of each simulated yield term.

    Raises:
        InputError: the dataset's yields do not match its simulation (changed after it was built).
    """
    from geoapp.analysis.error_budget import budget_of_predictions, county_terms_of, simulation_config_of
    from geoapp.training.yield_trainer import evaluate_yield

    if simulation_config_of(ds) is None:
        return None
    if table is None:
        table = evaluate_yield(best, ds, year, calibrated=False)["table"]
    b = budget_of_predictions(table, ds, int(year), county_terms_of(ds, int(year)))
    return {
        "rmse_vs_expected": b["rmse_vs_expected"],
        "bias": b["bias"],
        "joint_r2": b["joint_r2"],
        "missed": {r["term"]: r["missed"] for r in b["terms"]},
    }


def calibrate_results(store: ResultStore, ds: Any, echo: Callable[[str], None] = print) -> list[str]:
    """Add the calibrated scores (as :func:`score_run` gives them) to every ``ok`` result of ``store`` that lacks them.

    The store stays append-only: each such run gets a new line, its latest record with ``calibrated``
    among its metrics (the rest copied). A run whose checkpoint is no longer there is left as it is,
    with a line saying so. Returns the names of the runs updated.

    Raises:
        DataFileError: the store holds another dataset's results or cannot be written.
    """
    from geoapp.training.yield_trainer import calibrated_scores

    def summary(record: dict[str, Any], calibrated: dict[str, Any]) -> str:
        return f"RMSE {record['metrics']['rmse']:.3f} -> {calibrated['county-trend']['rmse']:.3f} with county-trend"

    return _backfill(store, ds, "calibrated", calibrated_scores, summary, echo)


def validation_results(store: ResultStore, ds: Any, echo: Callable[[str], None] = print) -> list[str]:
    """Add the validation-year scores (:func:`validation_scores`) to every ``ok`` result of ``store`` that lacks them.

    As :func:`calibrate_results`: one new line per run updated, a line for a run whose checkpoint is gone.
    Returns the names of the runs updated.

    Raises:
        DataFileError: the store holds another dataset's results or cannot be written.
    """

    def summary(record: dict[str, Any], scores: dict[str, Any]) -> str:
        return f"validation {scores['year']}: RMSE {scores['rmse']:.3f} (test {record['metrics']['rmse']:.3f})"

    return _backfill(store, ds, "validation", validation_scores, summary, echo)


def budget_results(store: ResultStore, ds: Any, echo: Callable[[str], None] = print) -> list[str]:
    """Add the error budget (:func:`run_budget`) to every ``ok`` result of a SIMULATED dataset's store that lacks it.

    As :func:`calibrate_results`: one new line per run updated, a line for a run whose checkpoint is gone.
    Returns the names of the runs updated; none for real data (it has no simulated terms).

    Raises:
        DataFileError: the store holds another dataset's results or cannot be written.
    """
    from geoapp.analysis.error_budget import simulation_config_of

    if simulation_config_of(ds) is None:
        echo(f"{ds.title!r} is not simulated: an error budget needs the simulation's yield terms")
        return []

    def summary(record: dict[str, Any], budget: dict[str, Any]) -> str:
        missed = budget["missed"].get("water")
        share = "-" if missed is None else f"{missed:+.2f}"
        return f"RMSE vs noise-free {budget['rmse_vs_expected']:.3f}, water stress missed {share}"

    return _backfill(store, ds, "budget", run_budget, summary, echo)


def _backfill(
    store: ResultStore,
    ds: Any,
    name: str,
    compute: Callable[[Path, Any, int], Any],
    summary: Callable[[dict[str, Any], Any], str],
    echo: Callable[[str], None],
) -> list[str]:
    """Append, for every latest ``ok`` record without ``metrics[name]``, a copy with ``compute(checkpoint, ds, year)``."""
    from geoapp.paths import REPO_ROOT

    done = []
    todo = [
        r for r in latest_results(store.read()).values() if r["status"] == OK and not isinstance(r["metrics"].get(name), Mapping)
    ]
    for i, record in enumerate(todo, start=1):
        folder = Path(record.get("checkpoint") or "")
        folder = folder if folder.is_absolute() else REPO_ROOT / folder
        if not record.get("checkpoint") or not folder.is_dir():
            echo(f"[{i}/{len(todo)}] {record['name']}: checkpoint {str(folder)!r} is gone; left without {name}")
            continue
        try:
            value = compute(folder, ds, int(record["key"]["test_year"]))
        except GeoappError as exc:
            echo(f"[{i}/{len(todo)}] {record['name']}: no {name} ({exc})")
            continue
        if value is None:
            continue
        store.append(
            {
                **record,
                "metrics": {**record["metrics"], name: value},
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )
        echo(f"[{i}/{len(todo)}] {record['name']}: {summary(record, value)}")
        done.append(record["name"])
    return done


def format_seconds(seconds: float | None) -> str:
    """``1 h 02 min``, ``3 min 05 s``, ``12 s``; ``?`` for None."""
    if seconds is None:
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


@dataclass
class RunSummary:
    """What :func:`run_plan` did: run names by outcome."""

    planned: int = 0
    skipped: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)
    """Runs another runner held or finished while this one went through the plan."""


class _Eta:
    """Seconds left: each remaining run costs the mean time of the finished runs of its model kind.

    Timings are kept per (model, training overrides): one short smoke epoch is no guide to a full run. A
    kind without a finished run yet costs the mean of the same model's runs whose overrides differ only
    in ``model_overrides`` (a loss weight such as plan ``context``'s alpha does not change how long a run
    takes), else of the runs with the same overrides; with none, the estimate is unknown.
    """

    def __init__(self, earlier: Sequence[dict[str, Any]]) -> None:
        self.times: dict[tuple[str, str], list[float]] = {}
        for record in earlier:  # earlier sessions' runs count too (same store, same data)
            if record["status"] == OK and isinstance(record.get("seconds"), (int, float)):
                kind = (record["key"]["model"], json.dumps(record["key"]["overrides"], sort_keys=True))
                self.times.setdefault(kind, []).append(float(record["seconds"]))

    def add(self, run: RunSpec, seconds: float) -> None:
        self.times.setdefault(_kind(run), []).append(seconds)

    def left(self, remaining: Sequence[RunSpec], elapsed: Mapping[str, float] | None = None) -> float | None:
        """Seconds for ``remaining``; None when a run's kind and overrides have no timing at all.

        ``elapsed``: seconds a run (by name) has trained so far in another runner; it costs what is
        left of its kind's mean, or nothing once it has run longer than that.
        """
        elapsed = elapsed or {}
        total = 0.0
        for run in remaining:
            kind = _kind(run)
            length = _length_key(kind[1])
            same = (
                self.times.get(kind)
                or [t for k, ts in self.times.items() if k[0] == kind[0] and _length_key(k[1]) == length for t in ts]
                or [t for k, ts in self.times.items() if k[1] == kind[1] for t in ts]
            )
            if not same:
                return None
            total += max(sum(same) / len(same) - elapsed.get(run.name, 0.0), 0.0)
        return total


def _kind(run: RunSpec) -> tuple[str, str]:
    return run.model, json.dumps(dict(run.overrides), sort_keys=True)


def _length_key(overrides_json: str) -> str:
    """The overrides that set how long a run takes (JSON): all but ``model_overrides`` (the model's loss weights)."""
    overrides = json.loads(overrides_json)
    if not isinstance(overrides, dict):
        return overrides_json
    return json.dumps({k: v for k, v in overrides.items() if k != "model_overrides"}, sort_keys=True)


def _dataset_info(ds: Any) -> dict[str, Any]:
    return {"name": ds.name, "fingerprint": ds.fingerprint, "simulated": ds.simulated}


def run_plan(
    plan: Plan,
    ds: Any,
    *,
    store: ResultStore | None = None,
    runs_dir: str | Path | None = None,
    train_fn: TrainFn = train_and_score,
    dry_run: bool = False,
    echo: Callable[[str], None] = print,
) -> RunSummary:
    """Train and score every run of ``plan`` that has no ``ok`` result in ``store``.

    Args:
        plan: the runs (checked first: known models, years in the data, N_y that fit).
        ds: the loaded dataset (:class:`~geoapp.data.dataset.YieldDataset`).
        store: where results go (default: the dataset's store, :meth:`ResultStore.for_dataset`).
        runs_dir: the run folders' parent (default :func:`~geoapp.experiments.store.runs_root`).
        train_fn: trains and scores one run (default :func:`train_and_score`).
        dry_run: only print what would run.
        echo: where progress lines go: one per run, ``[i/n] name: RMSE .. R^2 .. (took ..; ETA ..)``; the
            estimate is shared among the runners training the plan's remaining runs at that moment.

    Raises:
        InputError: the plan names an unknown model, a year outside the data or too large an N_y.
        DataFileError: the store holds another dataset's results or cannot be written.
    """
    runs = check_plan(plan, ds.years)
    store = store if store is not None else ResultStore.for_dataset(ds)
    root = Path(runs_dir) if runs_dir is not None else runs_root(ds.name)
    earlier = store.read()
    done = {r.key() for r in runs} & {record_key(rec) for rec in earlier if rec["status"] == OK}
    todo = [r for r in runs if r.key() not in done]
    summary = RunSummary(planned=len(runs), skipped=[r.name for r in runs if r.key() in done])
    eta = _Eta(earlier)
    left = eta.left(todo)
    echo(
        f"plan {plan.name}: {len(runs)} runs on {ds.name}, {len(done)} done, {len(todo)} to run"
        + (f" (about {format_seconds(left)} at the mean time per model kind so far)" if todo and left is not None else "")
    )
    if dry_run:
        for i, run in enumerate(todo, start=1):
            echo(f"[{i}/{len(todo)}] {run.name} (would run into {root / run.name})")
        return summary
    started = time.perf_counter()
    info = _dataset_info(ds)
    for i, run in enumerate(todo, start=1):
        with claim_run(root, run.name) as claim:
            why = _elsewhere(claim, store, len(earlier), run, ds.name)
            if why is not None:
                summary.elsewhere.append(run.name)
                echo(f"[{i}/{len(todo)}] {run.name}: skipped, {why}")
                continue
            seconds, line = _train_one(run, ds, root, store, train_fn, info, plan.name, summary, eta)
        echo(
            f"[{i}/{len(todo)}] {run.name}: {line} (took {format_seconds(seconds)}; "
            f"elapsed {format_seconds(time.perf_counter() - started)}; "
            f"ETA {_shared_eta(eta, todo[i:], root, store, [r for r in todo[: i - 1] if r.name in summary.elsewhere])})"
        )
    echo(
        f"plan {plan.name}: {len(summary.finished)} finished, {len(summary.failed)} failed, {len(summary.skipped)} skipped"
        + (f", {len(summary.elsewhere)} left to other runners" if summary.elsewhere else "")
    )
    return summary


def _shared_eta(eta: _Eta, remaining: Sequence[RunSpec], root: Path, store: ResultStore, passed: Sequence[RunSpec] = ()) -> str:
    """The time left for those of ``remaining`` without a result yet, shared among the runners at work on them.

    ``passed``: runs this runner skipped earlier because another runner held them; those still in training
    count too. The runners are this one and each other holding one of them: ``3 h 10 min``, or ``1 h 35 min
    with 2 runners``. A run another runner is part-way through costs what is left of its mean time.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StoreWarning)  # damaged lines were reported at the first read
        done = {record_key(rec) for rec in store.read() if rec["status"] == OK}
    still = [run for run in passed if run.key() not in done and training_now(root, run.name) is not None]
    remaining = [run for run in [*still, *remaining] if run.key() not in done]  # other runners finished some meanwhile
    held = [run.name for run in remaining if training_now(root, run.name) is not None]
    elapsed = {name: t for name in held if (t := training_seconds(root, name)) is not None}
    left = eta.left(remaining, elapsed)
    others = len(held)
    if left is None or others == 0:
        return format_seconds(left)
    return f"{format_seconds(left / (others + 1))} with {others + 1} runners"


def _elsewhere(claim: Claim, store: ResultStore, seen: int, run: RunSpec, dataset_name: str) -> str | None:
    """Why ``run`` is not this runner's to train now; None: train it.

    Held by another runner; finished, or failed, by another runner since this one first read the store
    (its first ``seen`` records; a failure is tried again by the next ``run``, not by every runner of
    this one); or started as a job by the Experiments page's queue.
    """
    from geoapp.experiments.queue import queued_as_job

    if not claim.held:
        return f"trained by another runner ({claim.holder})"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StoreWarning)  # damaged lines were reported at the first read
        records = store.read()
    if any(rec["status"] == OK and record_key(rec) == run.key() for rec in records):
        return "finished by another runner"
    failed = [rec for rec in records[seen:] if rec["status"] == FAILED and record_key(rec) == run.key()]
    if failed:
        return f"failed in another runner ({failed[-1].get('error')}); the next run of the plan tries it again"
    if queued_as_job(dataset_name, run):
        return "being trained as a job by the Experiments page's queue"
    return None


def _train_one(
    run: RunSpec,
    ds: Any,
    root: Path,
    store: ResultStore,
    train_fn: TrainFn,
    info: dict[str, Any],
    plan_name: str,
    summary: RunSummary,
    eta: _Eta,
) -> tuple[float, str]:
    """Train and score ``run`` (claimed by this process), append its record; returns (seconds, progress text)."""
    t0 = time.perf_counter()
    try:
        outcome = train_fn(run, ds, root / run.name)
    except Exception as exc:  # noqa: BLE001 - a failing run is recorded and the plan goes on
        seconds = time.perf_counter() - t0
        error = f"{type(exc).__name__}: {exc}"
        store.append(make_record(run, dataset=info, status=FAILED, plan=plan_name, seconds=seconds, error=error))
        summary.failed.append(run.name)
        line = f"FAILED ({error})"
    else:
        seconds = time.perf_counter() - t0
        metrics = {k: outcome[k] for k in ("rmse", "r2", "n", "year", "validation", "calibrated", "budget") if k in outcome}
        store.append(
            make_record(
                run,
                dataset=info,
                status=OK,
                plan=plan_name,
                metrics=metrics,
                seconds=seconds,
                checkpoint=outcome.get("checkpoint"),
                config=outcome.get("config"),
            )
        )
        eta.add(run, seconds)
        summary.finished.append(run.name)
        line = f"RMSE {metrics['rmse']:.3f} R^2 {metrics['r2']:.3f}"
    return seconds, line
