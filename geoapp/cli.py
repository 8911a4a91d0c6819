"""Command line: ``python -m geoapp <group> <command> ...``; ``--help`` works at every level.

Groups:
    data build    simulate the embedded dataset (demo: 4 km; paper: 1 km), or with --manifest build one from your files
    data info     print a dataset's summary
    data ingest   reproject user rasters listed in a manifest onto the cube grid
    data fetch-nass  download county yields from the USDA NASS Quick Stats API into one CSV
    data noise-free  copy a simulated dataset with its noise-free county yields as labels (a diagnostic)
    train yield    train a crop-yield model for one test year (nested validation)
    train ensemble write an ensemble checkpoint: the mean of several crop-yield checkpoints
    evaluate yield RMSE, R^2 and per-county predictions of a checkpoint
    train location contrastive pretraining of the location encoder (Blue Marble patches)
    jobs list|show|cancel|resume   training jobs (the Training page's, from a shell)
    assets install copy Leaflet into static/ and cache the county GeoJSON (offline maps)
    warm          compute ahead the results the pages show (predictions, attention, ablation, gallery embeddings)
    bench data    time a dataset build (demo, paper) and its peak memory; chunk sides; training's data side
    bench yield       RMSE, R^2, noise floor, speeds of the crop-yield checkpoints
    bench yield-sweep SEMI-HA vs S-HA variants (labels, loss weights, radii), one run each
    bench sampler     quadruplet sampling and tile gathering rates
    bench location    geolocalization vs. baselines, probe, similarity latency, spherical harmonics
    bench app         the app in headless chromium: seconds per page and interaction vs. budget
    bench difficulty  held-out R^2 of ridge / boosted trees vs. the simulation's ceiling
    bench error-budget  which of the simulation's yield terms a checkpoint's test errors carry
    bench ensemble    seed ensembles of the experiment runs: the mean of seeds vs. each seed alone
    bench cache       cold compute vs. warm load seconds of each result kept on disk
    bench ablation    what-if ablation: cold and warm seconds vs. targets, and the per-group path
    bench yield-throughput  training examples/s: the trainer end to end vs. the model's step alone
    experiments run|report|status|collect|calibrate|budget  the paper's study: plans of runs, tables in docs/experiments.md

Errors (docs/errors.md): a command that fails prints one line, ``error: <what went wrong and what to
do>``, on stderr and exits non-zero (2: a problem with the input, a file or the machine that you can
fix; 1: an internal error; 130/143: interrupted). ``python -m geoapp --debug ...`` adds the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import os
import select
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from geoapp.config_cli import DeferredParser
from geoapp.errors import DataFileError, DiskFullError, GeoappError, InputError, OutputExistsError

__all__ = ["main", "build_parser"]


# ---- data -------------------------------------------------------------------------------------
def _data_build(args: argparse.Namespace) -> int:
    from geoapp.data.dataset import build_default_dataset, default_dataset_path, load_dataset

    if args.manifest:
        return _data_build_real(args)
    for flag, dest in _REAL_BUILD_FLAGS:
        if getattr(args, dest) is not None:
            raise InputError(
                f"{flag} applies to a build from your files (with --manifest); the simulated build takes its grid and "
                "tiles from --config (demo: 4 km, 16 px tiles; paper: 1 km, 50 px): give --manifest (and --yields, "
                f"--out) too, or leave {flag} out"
            )
    out = Path(args.out) if args.out else default_dataset_path(args.config)
    try:  # the output folder is checked before the simulation runs
        path = build_default_dataset(
            args.config,
            progress=not args.quiet,
            out_dir=out,
            force=args.force,
            scheduler=args.scheduler,
            memory_gb=args.memory_gb,
        )
    except OutputExistsError:
        print(f"{out} exists; use --force to rebuild")
        return 0
    ds = load_dataset(path)
    print(f"built {ds.title} at {path} (fingerprint {ds.fingerprint})")
    return 0


_REAL_BUILD_FLAGS = (
    ("--yields", "yields"),
    ("--cropland", "cropland"),
    ("--states", "states"),
    ("--resolution-km", "resolution_km"),
    ("--tile-px", "tile_px"),
    ("--crop-codes", "crop_codes"),
    ("--name", "name"),
    ("--commodity", "commodity"),
    ("--plausible-yield", "plausible_yield"),
)
"""The ``data build`` flags of a build from the user's files (``--manifest``): refused without it, never ignored."""
_REAL_BUILD_DEFAULTS = {"resolution_km": 4.0, "tile_px": 16, "crop_codes": "12,14"}
"""What those flags default to in a build from the user's files (the parser leaves them None, to see them given)."""


def _yield_range(text: str) -> tuple[float, float]:
    """``LO,HI`` in bu/acre (argparse type of ``--plausible-yield``)."""
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI in bu/acre such as 0,150; got {text!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi):
        raise argparse.ArgumentTypeError(f"expected 0 <= LO < HI, both finite; got {text!r}")
    return lo, hi


def _data_build_real(args: argparse.Namespace) -> int:
    from geoapp.data.nass import DEFAULT_COMMODITY, DEFAULT_DATA_ITEM
    from geoapp.data.real_dataset import build_real_dataset

    if not args.yields or not args.out:
        raise InputError("a real dataset needs --manifest, --yields (a NASS Quick Stats CSV) and --out (a new folder)")
    given = {dest: getattr(args, dest) for dest in _REAL_BUILD_DEFAULTS}
    settings = {dest: _REAL_BUILD_DEFAULTS[dest] if value is None else value for dest, value in given.items()}
    commodity = DEFAULT_COMMODITY if args.commodity is None else args.commodity
    _, report = build_real_dataset(
        args.manifest,
        args.yields,
        args.out,
        cropland=args.cropland,
        states=args.states,
        name=args.name,
        force=args.force,
        progress=not args.quiet,
        commodity=commodity,
        data_item=None if commodity.upper() != DEFAULT_COMMODITY else DEFAULT_DATA_ITEM,
        **settings,
        plausible_range=args.plausible_yield,
        scheduler=args.scheduler,
    )
    print(report.summary())
    return 0


def _data_info(args: argparse.Namespace) -> int:
    from geoapp.data.dataset import default_dataset_path, load_dataset
    from geoapp.data.summary import dataset_summary, format_summary

    ds = load_dataset(args.path or default_dataset_path(args.config))
    summary = dataset_summary(ds, check_files=True)
    print(json.dumps(summary, indent=1) if args.json else format_summary(summary))
    return 0


def _data_noise_free(args: argparse.Namespace) -> int:
    from geoapp.data.dataset import default_dataset_path
    from geoapp.data.noise_free import write_noise_free_copy

    out = write_noise_free_copy(args.path or default_dataset_path("demo"), args.out, force=args.force)
    print(f"noise-free copy written to {out} (SIMULATED; labels are the noise-free yields, not observed ones)")
    return 0


def _data_ingest(args: argparse.Namespace) -> int:
    from geoapp.data.ingest import ingest_manifest

    report = ingest_manifest(
        args.manifest,
        args.out,
        resolution_m=args.resolution_km * 1000.0,
        title=args.title,
        progress=not args.quiet,
        scheduler=args.scheduler,
    )
    print(report.summary())
    return 0


def _data_fetch_nass(args: argparse.Namespace) -> int:
    from geoapp.data.nass_api import DEFAULT_BASE_URL, fetch_county_yields, parse_states, parse_years

    summary = fetch_county_yields(
        args.commodity,
        parse_states(args.states),
        parse_years(args.years),
        args.out,
        key=args.key,
        base_url=args.base_url or DEFAULT_BASE_URL,
    )
    first, last = summary.years
    print(
        f"wrote {summary.rows} rows of county {args.commodity.upper()} yields for {', '.join(summary.states)}, "
        f"{first}-{last}, to {summary.path} ({summary.requests} requests)"
    )
    if summary.empty_states:
        print(f"no rows for {', '.join(summary.empty_states)}")
    return 0


# ---- assets -----------------------------------------------------------------------------------
def _jobs(args: argparse.Namespace) -> int:
    from geoapp.jobs.runner import JobRunner

    runner = JobRunner()
    if args.command == "list":
        for st in runner.list_jobs():
            metrics = st.get("metrics") or {}
            print(
                f"{st.get('job_id')}  {st.get('state') or '?':<10} {st.get('kind') or '?':<8} {st.get('name')}  "
                f"epoch {metrics.get('epoch', 0)}/{st.get('epochs') or '?'}"
            )
    elif args.command == "show":
        if args.lines < 1:
            raise InputError(f"--lines must be at least 1, got {args.lines}")
        print(json.dumps(runner.status(args.job), indent=1))
        print("\n".join(runner.log(args.job, args.lines)))
    elif args.command == "cancel":
        print(f"{args.job}: {runner.cancel(args.job)['state']}")
    elif args.command == "resume":
        print(f"{runner.resume(args.job)}: starting")
    return 0


def _assets_install(args: argparse.Namespace) -> int:
    from geoapp.data.counties import simplified_geojson_path
    from geoapp.viz.offline_assets import install_leaflet

    print(f"Leaflet installed in {install_leaflet()}")
    print(f"county GeoJSON cached at {simplified_geojson_path()}")
    return 0


# ---- bench ------------------------------------------------------------------------------------
def _bench_data(args: argparse.Namespace) -> int:
    from geoapp.bench.data_build import run_data_benchmark

    if args.training:
        from geoapp.bench.tile_source import run_tile_source_benchmark

        result = run_tile_source_benchmark(args.dataset)  # prints its own table
        if args.json:
            print(json.dumps(result, indent=1))
        return 0
    if args.chunks:
        from geoapp.bench.cube_chunks import run_chunk_benchmark

        rows = run_chunk_benchmark()  # prints its own table
        if args.json:
            print(json.dumps(rows, indent=1))
        return 0
    result = run_data_benchmark(
        config=args.config,
        repeats=args.repeats,
        out=args.out,
        progress=args.progress,
        scheduler=args.scheduler,
        memory_gb=args.memory_gb,
    )
    print(json.dumps(result, indent=1) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


def _bench_difficulty(args: argparse.Namespace) -> int:
    from geoapp.bench.difficulty import difficulty_report
    from geoapp.data.dataset import default_dataset_path, load_dataset

    ds = load_dataset(args.path or default_dataset_path("demo"))
    years = [int(y) for y in args.test_years.split(",")] if args.test_years else None
    report = difficulty_report(ds, years)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(report["dataset"])
        for year, row in {**report["per_year"], "mean": report["mean"]}.items():
            print(f"{year!s:>6}  " + "  ".join(f"{k}={v}" for k, v in row.items()))
    return 0


def _bench_error_budget(args: argparse.Namespace) -> int:
    from geoapp.analysis.error_budget import budget_markdown, error_budget
    from geoapp.data.dataset import default_dataset_path, load_dataset
    from geoapp.paths import checkpoint_dir

    ds = load_dataset(args.dataset or default_dataset_path("demo"))
    folders = args.checkpoint or [str(checkpoint_dir() / "yield" / f"semi-ha-loc-{y}" / "best") for y in (2017, 2018)]
    budgets = [error_budget(folder, ds, args.year, calibrated=not args.own) for folder in folders]
    print(json.dumps(budgets, indent=1) if args.json else budget_markdown(budgets), end="\n" if args.json else "")
    return 0


def _bench_ensemble(args: argparse.Namespace) -> int:
    from geoapp.bench.ensemble import ensemble_markdown, seed_ensemble_table
    from geoapp.data.dataset import default_dataset_path, load_dataset

    try:
        overrides = json.loads(args.overrides)
    except json.JSONDecodeError as exc:
        raise InputError(
            f'--overrides must be a JSON object of training settings, e.g. \'{{"augment": "dihedral"}}\': {exc}'
        ) from exc
    if not isinstance(overrides, dict):
        raise InputError(f"--overrides must be a JSON object of training settings, got {args.overrides!r}")
    ds = load_dataset(args.dataset or default_dataset_path("demo"))
    parts = [s.strip() for s in args.seeds.split(",") if s.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise InputError(f"--seeds must be comma-separated whole seeds such as 0,1,2; got {args.seeds!r}")
    seeds = [int(p) for p in parts]
    years = [int(y) for y in args.test_years.split(",")]
    table = seed_ensemble_table(ds, args.model, seeds, years, overrides)
    if args.json:
        print(table.to_json(orient="records", indent=1))
    else:
        label = f"{args.model}" + (f" {json.dumps(overrides, sort_keys=True)}" if overrides else "")
        sim = " (SIMULATED data)" if ds.simulated else ""
        print(ensemble_markdown(table, f"Seed ensemble of {label} on {ds.name}{sim}, N_y = 10"), end="")
    return 0


# ---- train ------------------------------------------------------------------------------------
def _config_file(path: str | None) -> dict:
    """Training-config fields from a JSON file (``--config``); command-line flags override them."""
    if not path:
        return {}
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataFileError(f"cannot read the config file {path!r}: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"config file {path!r} is not valid JSON: {exc}") from exc
    if not isinstance(values, dict):
        raise InputError(f"config file {path!r} must hold a JSON object of config fields, got {type(values).__name__}")
    return values


def _location_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per LocationTrainConfig field (added when ``train location`` is used: imports torch)."""
    from geoapp.config_cli import add_config_arguments
    from geoapp.training.location_trainer import LocationTrainConfig

    add_config_arguments(parser, LocationTrainConfig)


def _yield_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per YieldTrainConfig field; ``--model`` takes every model kind (added when ``train yield`` is used)."""
    from geoapp.config_cli import add_config_arguments
    from geoapp.training.yield_trainer import YieldTrainConfig

    add_config_arguments(parser, YieldTrainConfig)


def _train_location(args: argparse.Namespace) -> int:
    from geoapp.config_cli import config_values
    from geoapp.paths import checkpoint_dir
    from geoapp.training.location_trainer import MODEL_NAME, LocationTrainConfig, train_location

    cfg = LocationTrainConfig.from_dict(config_values(args, LocationTrainConfig, _config_file(args.config)))
    out = Path(args.out) if args.out else checkpoint_dir() / "location" / MODEL_NAME
    best = train_location(cfg, out, resume=args.resume, progress=not args.quiet, force=args.force)
    print(f"best checkpoint: {best}")
    return 0


def _dataset_arg(path: str | None):
    """The dataset to train on or evaluate, refused when its files changed since its card was written."""
    from geoapp.data.dataset import default_dataset_path, load_dataset

    ds = load_dataset(path or default_dataset_path("demo"))
    try:
        ds.verify_fingerprint()
    except BaseException:
        ds.close()
        raise
    return ds


def _yield_run_folder(args: argparse.Namespace, ds, run: str) -> Path:
    """The run folder: ``--out``, else one under the checkpoint folder that depends on the dataset.

    ``<checkpoint dir>/yield/<run>`` for the embedded dataset, ``<checkpoint dir>/yield/<dataset
    name>/<run>`` for any other, so that a run on a user's dataset never lands on a shipped checkpoint.
    """
    from geoapp.data.dataset import default_dataset_path
    from geoapp.paths import checkpoint_dir

    if args.out:
        return Path(args.out)
    if ds.root.resolve() == default_dataset_path("demo").resolve():
        return checkpoint_dir() / "yield" / run
    return checkpoint_dir() / "yield" / ds.root.name / run


def _train_yield(args: argparse.Namespace) -> int:
    from geoapp.config_cli import config_values
    from geoapp.training.yield_trainer import YieldTrainConfig, train_yield

    cfg = YieldTrainConfig.from_dict(config_values(args, YieldTrainConfig, _config_file(args.config)))
    run = f"{cfg.model}-{cfg.test_year}" + (f"-no-{cfg.exclude_group}" if cfg.exclude_group else "")
    ds = _dataset_arg(args.dataset)
    out = _yield_run_folder(args, ds, run)
    best = train_yield(cfg, ds, out, resume=args.resume, progress=not args.quiet, force=args.force)
    print(f"best checkpoint: {best}")
    return 0


def _train_calibrate(args: argparse.Namespace) -> int:
    from geoapp.training.yield_trainer import calibrate_checkpoint

    entry = calibrate_checkpoint(args.checkpoint, _dataset_arg(args.dataset), args.kind)
    if entry is None:
        print(f"{args.checkpoint}: calibration removed; the card scores the model's own predictions again")
        return 0
    val = entry["validation"]
    offsets = (
        f", {len(entry['offsets_bu'])} county offsets (sd {entry['county_sd_bu']:.2f} bu/acre)" if entry["offsets_bu"] else ""
    )
    print(
        f"{args.checkpoint}: {entry['kind']} fitted on {entry['fitted_years'][0]}-{entry['fitted_years'][-1]}: "
        f"trend {entry['slope_bu_per_year']:+.3f} bu/acre per year{offsets}; validation {val['year']} RMSE "
        f"{val['rmse_before_bu']:.3f} -> {val['rmse_after_bu']:.3f} bu/acre"
    )
    return 0


def _train_ensemble(args: argparse.Namespace) -> int:
    from geoapp.training.checkpoint import read_card
    from geoapp.training.ensemble import write_ensemble

    ds = _dataset_arg(args.dataset)
    best = write_ensemble(args.members, ds, args.out, calibration=args.calibration, force=args.force)
    card = read_card(best)
    metrics = card["metrics"]
    own = (card.get("calibration") or {}).get("uncalibrated_metrics") or metrics
    scores = ", ".join(
        f"{role} {card['years']['validation' if role == 'val' else 'test']} RMSE {metrics[f'{role}_rmse']:.3f}"
        + (f" ({own[f'{role}_rmse']:.3f} without the calibration)" if own is not metrics and f"{role}_rmse" in own else "")
        for role in ("val", "test")
        if f"{role}_rmse" in metrics
    )
    print(f"ensemble of {len(card['members'])} {card['model']} checkpoints: {best}; {scores} bu/acre")
    return 0


def _checkpoint_dataset(checkpoint: str) -> str | None:
    """The folder of the dataset a checkpoint was trained on, by the name its card records (None: the demo's).

    Looked for in the data folder; a dataset that is not there is an error naming it and ``--dataset``.
    """
    from geoapp.data.dataset import default_dataset_path
    from geoapp.paths import data_dir
    from geoapp.training.checkpoint import read_card

    recorded = read_card(checkpoint).get("dataset")
    name = recorded.get("name") if isinstance(recorded, dict) else None
    demo = default_dataset_path("demo")
    if not name or name == demo.name:
        return None
    folder = data_dir() / str(name)
    if not (folder / "dataset.json").is_file():
        raise InputError(
            f"checkpoint {checkpoint!r} was trained on dataset {name!r}, which is not in the data folder "
            f"{str(data_dir())!r}; pass its folder with --dataset"
        )
    return str(folder)


def _evaluate_yield(args: argparse.Namespace) -> int:
    from geoapp.training.yield_trainer import evaluate_yield

    result = evaluate_yield(args.checkpoint, _dataset_arg(args.dataset or _checkpoint_dataset(args.checkpoint)), args.year)
    table = result.pop("table")
    if args.json:
        print(json.dumps({**result, "counties": table.to_dict(orient="records")}))
    else:
        print(
            f"{result['model']} {result['year']}: RMSE {result['rmse']:.3f} bu/acre, "
            f"R^2 {result['r2']:.3f} over {result['n']} counties"
        )
    return 0


def _bench_yield(args: argparse.Namespace) -> int:
    from geoapp.bench.yield_models import run_yield_benchmark, write_markdown

    result = run_yield_benchmark(args.dataset)
    if args.markdown:
        write_markdown(result, args.markdown)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for row in result["rows"]:
            print("  ".join(f"{k}={v}" for k, v in row.items()))
    return 0


def _bench_yield_sweep(args: argparse.Namespace) -> int:
    from geoapp.bench.yield_sweep import run_sweep

    if args.summary:
        from geoapp.bench.yield_sweep import seed_summary, seed_summary_markdown

        summary = seed_summary()
        print(json.dumps(summary, indent=1) if args.json else seed_summary_markdown(summary), end="" if not args.json else "\n")
        return 0
    if args.ship:
        from geoapp.bench.yield_sweep import ship_runs

        for folder in ship_runs(args.plan):
            print(f"shipped {folder}")
        return 0
    rows = run_sweep(args.plan, args.dataset, only=args.only or None, progress=not args.quiet)
    for row in rows:
        print(
            "  ".join(
                f"{k}={row[k]}" for k in ("variant", "epochs_run", "best_epoch", "val_rmse", "test_rmse", "test_r2", "seconds")
            )
        )
    return 0


def _bench_location(args: argparse.Namespace) -> int:
    from geoapp.bench.location import run_location_benchmark, write_markdown

    result = run_location_benchmark(checkpoint=args.checkpoint, quick=args.quick)
    if args.markdown:
        write_markdown(result, args.markdown)
    print(json.dumps(result, indent=1) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


def _bench_sampler(args: argparse.Namespace) -> int:
    from geoapp.bench.sampler import run_sampler_benchmark

    run_sampler_benchmark(n=args.n)  # prints its own figures
    return 0


def _bench_app(args: argparse.Namespace) -> int:
    from geoapp.bench.app import format_table, run_app_benchmark, write_markdown

    progress = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    result = run_app_benchmark(repeat=args.repeat, only=args.only, timeout_s=args.timeout, progress=progress)
    print(format_table(result), end="")
    if args.markdown:
        write_markdown(result, args.markdown, note=args.note or "")
    return 0


# ---- warm -------------------------------------------------------------------------------------
def _warm(args: argparse.Namespace) -> int:
    import time

    from geoapp.analysis.warm import all_fresh, warm

    t0 = time.perf_counter()
    if all_fresh(args.dataset, all_years=args.all_years, galleries=not args.no_galleries):
        print(
            f"warm: every result is fresh (nothing changed since the last warm-up; checked in {time.perf_counter() - t0:.2f} s)"
        )
        return 0
    report = warm(args.dataset, all_years=args.all_years, galleries=not args.no_galleries, progress=not args.quiet)
    by_kind: dict[str, list[tuple[str, str, str, float]]] = {}
    for row in report.rows:
        by_kind.setdefault(row[0], []).append(row)
    for kind, rows in by_kind.items():
        computed = [r for r in rows if r[2] == "computed"]
        fresh = sum(1 for r in rows if r[2] == "fresh")
        seconds = sum(r[3] for r in computed)
        print(f"{kind}: {len(computed)} computed in {seconds:.1f} s, {fresh} already fresh")
        if args.verbose:
            for _, label, _, s in computed:
                print(f"  {label}: {s:.1f} s")
    for kind, label, status, _ in report.rows:
        if status.startswith("failed"):
            print(f"{kind} {label}: {status}", file=sys.stderr)
    print(f"warm: {report.computed} computed, {report.failed} failed, {report.seconds:.1f} s in all")
    return 1 if report.failed else 0


def _bench_cache(args: argparse.Namespace) -> int:
    from geoapp.bench.cache import format_table, run_cache_benchmark

    rows = run_cache_benchmark(args.dataset, all_galleries=args.all_galleries)
    print(json.dumps(rows, indent=1) if args.json else format_table(rows), end="\n" if args.json else "")
    return 0


def _bench_ablation(args: argparse.Namespace) -> int:
    from geoapp.bench.ablation import format_report, run_ablation_benchmark

    result = run_ablation_benchmark(args.dataset, checkpoint=args.checkpoint, year=args.year)
    print(json.dumps(result, indent=1) if args.json else format_report(result), end="\n" if args.json else "")
    return 0


def _bench_throughput(args: argparse.Namespace) -> int:
    from geoapp.bench.yield_throughput import format_report, run_throughput_benchmark

    result = run_throughput_benchmark(
        args.dataset,
        model=args.model,
        size=args.size,
        examples=args.examples,
        batch_size=args.batch_size,
        device=args.device,
        workers=args.workers,
        precision=args.precision,
        compile=args.compile,
    )
    print(json.dumps(result, indent=1) if args.json else format_report(result), end="\n" if args.json else "")
    return 0


# ---- parser -----------------------------------------------------------------------------------
_TRAIN_FORCE_HELP = "replace the run the run folder holds (its best/, last/, metrics); without it such a folder is refused"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``python -m geoapp``."""
    parser = argparse.ArgumentParser(
        prog="python -m geoapp",
        description="geoapp command line",
        epilog="On failure a command prints one line, 'error: ...', and exits non-zero; see docs/errors.md.",
    )
    parser.add_argument("--debug", action="store_true", help="on an error, also print the traceback")
    groups = parser.add_subparsers(
        dest="group", required=True, metavar="{data,train,evaluate,jobs,assets,warm,bench,experiments}"
    )

    data = groups.add_parser("data", help="build, inspect and ingest datasets").add_subparsers(
        dest="command", required=True, metavar="{build,info,ingest,fetch-nass,noise-free}"
    )
    p = data.add_parser(
        "build",
        help="simulate the embedded Corn Belt dataset, or (with --manifest) build one from your own files",
        description="Without --manifest: simulate the embedded dataset. With --manifest, --yields and --out: build a real "
        "dataset from rasters, a NASS Quick Stats CSV and (optionally) a land-cover map; see docs/real-data.md.",
    )
    p.add_argument(
        "--config", choices=["demo", "paper"], default="demo", help="demo: 4 km, 16 px tiles; paper: 1 km, 50 px tiles"
    )
    p.add_argument("--out", help="output folder (default: data/corn_belt_sim_<config>; required with --manifest)")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace the dataset at --out (only a folder geoapp built: never one holding other files)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--manifest", help="real data: raster manifest CSV (band,year,month,path)")
    p.add_argument("--yields", help="real data: USDA NASS Quick Stats CSV export of county yields")
    p.add_argument("--cropland", help="real data: categorical land-cover raster for the anchors (MCD12Q1, CDL)")
    p.add_argument("--crop-codes", default=None, help="real data: crop classes of --cropland (IGBP 12,14; CDL soybeans 5)")
    p.add_argument("--states", help="real data: postal codes, e.g. IA,IL (default: the states the rasters cover)")
    p.add_argument("--resolution-km", type=_positive_km, default=None, help="real data: grid pixel size in km (default 4)")
    p.add_argument("--tile-px", type=_positive_int, default=None, help="real data: anchor tile size in pixels (default 16)")
    p.add_argument("--name", help="real data: dataset name (default: the folder's name)")
    p.add_argument("--commodity", default=None, help="real data: the Quick Stats commodity to keep (default SOYBEANS; e.g. CORN)")
    p.add_argument(
        "--plausible-yield",
        type=_yield_range,
        default=None,
        metavar="LO,HI",
        help="real data: county yields accepted, bu/acre (default: the commodity's, e.g. 0,150 for soybeans)",
    )
    _add_dask_flags(p, memory=True)
    p.set_defaults(func=_data_build)

    p = data.add_parser("info", help="print a dataset's summary")
    p.add_argument("--path", help="dataset folder (default: the embedded demo dataset)")
    p.add_argument("--config", choices=["demo", "paper"], default="demo")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_data_info)

    p = data.add_parser("noise-free", help="copy a simulated dataset with its noise-free county yields as labels (a diagnostic)")
    p.add_argument("--path", help="the simulated dataset folder (default: the embedded demo dataset)")
    p.add_argument("--out", required=True, help="the copy's folder (new, or a dataset folder replaced with --force)")
    p.add_argument("--force", action="store_true", help="replace the dataset at --out")
    p.set_defaults(func=_data_noise_free)

    p = data.add_parser("ingest", help="reproject rasters listed in a manifest onto the cube grid")
    p.add_argument("--manifest", required=True, help="CSV with columns band,year,month,path")
    p.add_argument("--out", required=True, help="output cube (.nc): a new file, or a cube geoapp wrote (replaced)")
    p.add_argument("--resolution-km", type=_positive_km, default=4.0, help="grid pixel size in km (default 4)")
    p.add_argument("--title", default=None, help="dataset title stored in the cube")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_dask_flags(p, memory=False)
    p.set_defaults(func=_data_ingest)

    p = data.add_parser("fetch-nass", help="download county yields from the USDA NASS Quick Stats API into one CSV")
    p.add_argument("--commodity", default="SOYBEANS", help="Quick Stats commodity (default SOYBEANS; e.g. CORN)")
    p.add_argument("--states", required=True, help="two-letter state codes, comma-separated (IA,IL)")
    p.add_argument("--years", required=True, help="first-last year, both included (2003-2018), or one year")
    p.add_argument("--out", required=True, help="the CSV to write (Quick Stats API columns)")
    p.add_argument("--key", default=None, help="Quick Stats API key (default: the NASS_API_KEY environment variable)")
    p.add_argument("--base-url", default=None, help="API root (default https://quickstats.nass.usda.gov/api/)")
    p.set_defaults(func=_data_fetch_nass)

    train = groups.add_parser("train", help="train models").add_subparsers(
        dest="command", required=True, metavar="{location,yield,calibrate}", parser_class=DeferredParser
    )
    p = train.add_parser(
        "location",
        help="contrastive pretraining of a location encoder on Blue Marble patches",
        description="Contrastive pretraining of a location encoder on Blue Marble patches. "
        "Every LocationTrainConfig field is a flag; flags override --config.",
        add_arguments=_location_config_flags,
    )
    p.add_argument(
        "--out",
        default=None,
        help="run folder: best/, last/, metrics.jsonl (default: <checkpoints>/location/contrastive-sh-siren, where "
        "<checkpoints> is $GEOAPP_CHECKPOINT_DIR or the repository's checkpoints/)",
    )
    p.add_argument("--resume", action="store_true", help="continue from <out>/last")
    p.add_argument("--force", action="store_true", help=_TRAIN_FORCE_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--config", default=None, help="JSON file of LocationTrainConfig fields (flags override it)")
    p.set_defaults(func=_train_location)
    p = train.add_parser(
        "yield",
        help="train a crop-yield model (semi-ha, semi-ha-loc, s-ha, semi-sa, or a baseline of Section IV-B) for one test year",
        description="Train a crop-yield model for one test year (nested validation). "
        "Every YieldTrainConfig field is a flag; flags override --config.",
        add_arguments=_yield_config_flags,
    )
    p.add_argument("--dataset", default=None, help="dataset folder (default: the embedded demo dataset)")
    p.add_argument(
        "--out",
        default=None,
        help="run folder (default: <checkpoints>/yield/<model>-<test year>, plus -no-<group> with --exclude-group; "
        "for a dataset other than the embedded one <checkpoints>/yield/<dataset folder name>/<model>-<test year>; "
        "<checkpoints> is $GEOAPP_CHECKPOINT_DIR or the repository's checkpoints/)",
    )
    p.add_argument("--resume", action="store_true", help="continue from <out>/last")
    p.add_argument("--force", action="store_true", help=_TRAIN_FORCE_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--config", default=None, help="JSON file of YieldTrainConfig fields (flags override it)")
    p.set_defaults(func=_train_yield)
    p = train.add_parser(
        "calibrate",
        help="fit a trend (and county offsets) to a crop-yield checkpoint's training-year residuals; kept in its card",
        description="Residual calibration (geoapp.training.calibration): a line and, with county-trend, shrunk "
        "county offsets fitted to the model's residuals on its training years, added to its predictions. "
        "The card is rewritten in place; --kind none removes it.",
    )
    p.add_argument("checkpoint", help="checkpoint folder (e.g. checkpoints/yield/semi-ha-2018/best)")
    p.add_argument(
        "--kind", default="county-trend", choices=["none", "trend", "county-trend"], help="what to fit (default county-trend)"
    )
    p.add_argument("--dataset", default=None, help="dataset folder (default: the embedded demo dataset)")
    p.set_defaults(func=_train_calibrate)

    p = train.add_parser(
        "ensemble",
        help="write an ensemble checkpoint: the mean of several crop-yield checkpoints (e.g. seeds) of one model",
        description="The members (checkpoint folders of one model, the same years and data) are copied into "
        "<out>/best/.members with their hashes; the ensemble predicts the mean of their predictions and is listed "
        "and loaded by the app like any crop-yield checkpoint (geoapp.training.ensemble).",
    )
    p.add_argument("members", nargs="+", help="member checkpoint folders (at least two), e.g. runs/s-ha-2018-seed0/best")
    p.add_argument("--out", required=True, help="folder to write the ensemble to (its checkpoint goes in <out>/best)")
    p.add_argument(
        "--calibration",
        default="county-trend",
        choices=["none", "trend", "county-trend"],
        help="residual calibration fitted to the ensemble's training-year residuals (default county-trend)",
    )
    p.add_argument("--dataset", default=None, help="dataset folder (default: the embedded demo dataset)")
    p.add_argument("--force", action="store_true", help="replace the checkpoint <out>/best holds")
    p.set_defaults(func=_train_ensemble)

    evaluate = groups.add_parser("evaluate", help="evaluate trained models").add_subparsers(
        dest="command", required=True, metavar="{yield}"
    )
    p = evaluate.add_parser("yield", help="RMSE, R^2 and per-county predictions of a crop-yield checkpoint")
    p.add_argument("--checkpoint", required=True, help="checkpoint folder (e.g. checkpoints/yield/semi-ha-2018/best)")
    p.add_argument(
        "--dataset", default=None, help="dataset folder (default: the one the checkpoint was trained on, in the data folder)"
    )
    p.add_argument("--year", type=int, default=None, help="year to evaluate (default: the checkpoint's test year)")
    p.add_argument("--json", action="store_true", help="JSON with a per-county table (geoid, year, true, predicted)")
    p.set_defaults(func=_evaluate_yield)

    jobs = groups.add_parser("jobs", help="training jobs started from the app (or a script)").add_subparsers(
        dest="command", required=True, metavar="{list,show,cancel,resume}"
    )
    jobs.add_parser("list", help="every job, newest first").set_defaults(func=_jobs)
    p = jobs.add_parser("show", help="a job's status and log tail")
    p.add_argument("job")
    p.add_argument("--lines", type=int, default=20)
    p.set_defaults(func=_jobs)
    for name, text in (("cancel", "stop a job at its next step"), ("resume", "continue a failed or cancelled job")):
        p = jobs.add_parser(name, help=text)
        p.add_argument("job")
        p.set_defaults(func=_jobs)

    assets = groups.add_parser("assets", help="offline assets the app serves").add_subparsers(
        dest="command", required=True, metavar="{install}"
    )
    p = assets.add_parser("install", help="copy Leaflet into static/ and cache the county GeoJSON")
    p.set_defaults(func=_assets_install)

    p = groups.add_parser("warm", help="compute ahead what the pages show, so they answer at once (skips what is fresh)")
    p.add_argument("--dataset", default=None, help="dataset folder (default: the embedded one)")
    p.add_argument(
        "--all-years", action="store_true", help="attention and ablation on every labelled year, not only the test years"
    )
    p.add_argument("--no-galleries", action="store_true", help="skip the location encoders' gallery embeddings")
    p.add_argument("--verbose", action="store_true", help="list each result computed with its time")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_warm)

    bench = groups.add_parser("bench", help="benchmarks that print figures").add_subparsers(
        dest="command", required=True, metavar="{data,difficulty,error-budget,yield,sampler,location,app,cache}"
    )
    p = bench.add_parser("data", help="time the dataset build and measure peak memory")
    p.add_argument("--config", choices=["demo", "paper"], default="demo")
    p.add_argument("--repeats", type=_positive_int, default=1, help="builds to time (at least 1)")
    p.add_argument("--out", default=None, help="build into this folder (kept) instead of a temporary one")
    p.add_argument("--progress", action="store_true", help="show the build's progress bar (stderr)")
    p.add_argument("--chunks", action="store_true", help="instead: file size and tile-read cost per chunk side")
    p.add_argument(
        "--training",
        action="store_true",
        help="instead: training examples/s with tiles in memory (as before) vs. through the tile cache (--dataset)",
    )
    p.add_argument("--dataset", default=None, help="with --training: dataset folder (default: the embedded demo)")
    p.add_argument("--json", action="store_true")
    _add_dask_flags(p, memory=True)
    p.set_defaults(func=_bench_data)
    p = bench.add_parser("difficulty", help="held-out R^2 of ridge and boosted trees vs. the noise-free ceiling")
    p.add_argument("--path", help="dataset folder (default: the embedded demo dataset)")
    p.add_argument("--test-years", type=_year_list, default="2014,2015,2016,2017,2018", help="comma-separated test years")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_bench_difficulty)
    p = bench.add_parser(
        "error-budget", help="simulated data: which of the simulation's yield terms a checkpoint's test errors carry"
    )
    p.add_argument(
        "--checkpoint",
        action="append",
        help="checkpoint folder (repeat for several; default: the shipped semi-ha-loc 2017 and 2018)",
    )
    p.add_argument("--dataset", default=None, help="the simulated dataset folder (default: the embedded demo dataset)")
    p.add_argument("--year", type=int, default=None, help="year to score (default: each checkpoint's test year)")
    p.add_argument("--own", action="store_true", help="the model's own predictions, without its residual calibration")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_bench_error_budget)
    p = bench.add_parser(
        "ensemble", help="the mean of several seeds' experiment runs against each seed alone (own and calibrated RMSE)"
    )
    p.add_argument("--model", required=True, help="model name of the runs (e.g. s-ha)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds, at least two")
    p.add_argument("--overrides", default="{}", help='the runs\' training overrides as JSON, e.g. \'{"augment": "dihedral"}\'')
    p.add_argument("--test-years", type=_year_list, default="2014,2015,2016,2017,2018", help="comma-separated test years")
    p.add_argument("--dataset", default=None, help="dataset folder (default: the embedded demo dataset)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_bench_ensemble)
    p = bench.add_parser("yield", help="RMSE, R^2, noise floor, training and inference speed of every crop-yield checkpoint")
    p.add_argument("--dataset", default=None, help="dataset folder (default: the embedded demo dataset)")
    p.add_argument("--markdown", default=None, help="also write the table to this markdown file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_bench_yield)
    p = bench.add_parser("yield-sweep", help="train SEMI-HA / S-HA variants to see what makes the context losses help")
    p.add_argument(
        "--plan",
        default="full",
        help="labels (1,000 labels), full (all labels, the shipped runs) or seeds (more seeds of the shipped runs)",
    )
    p.add_argument("--only", nargs="*", default=None, help="run only these variants of the plan")
    p.add_argument("--dataset", default=None, help="dataset folder (default: the embedded demo dataset)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--ship", action="store_true", help="copy the finished shipped variants into checkpoints/yield/ (no training)")
    p.add_argument(
        "--summary",
        action="store_true",
        help="no training: test RMSE mean +/- sd over the seeds of the shipped configuration (plans full and seeds)",
    )
    p.add_argument("--json", action="store_true", help="with --summary: JSON instead of markdown")
    p.set_defaults(func=_bench_yield_sweep)
    p = bench.add_parser("sampler", help="quadruplet sampling and tile gathering rates on the demo grid")
    p.add_argument("--n", type=_sampler_batch, default=4096, help="quadruplets per batch (1..1,000,000)")
    p.set_defaults(func=_bench_sampler)
    p = bench.add_parser("location", help="geolocalization vs. baselines, country probe, similarity latency, spherical harmonics")
    p.add_argument("--checkpoint", default=None, help="contrastive checkpoint folder (default: the shipped one)")
    p.add_argument("--quick", action="store_true", help="fewer points (a smoke run)")
    p.add_argument("--markdown", default=None, help="also write the results table to this markdown file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_bench_location)
    p = bench.add_parser("cache", help="cold compute vs. warm load seconds of each result kept on disk")
    p.add_argument("--dataset", default=None, help="dataset folder (default: the embedded one)")
    p.add_argument("--all-galleries", action="store_true", help="every encoder over both galleries (GeoCLIP's take ~30 s each)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_bench_cache)
    p = bench.add_parser("ablation", help="what-if ablation: cold and warm seconds against targets, and the per-group path")
    p.add_argument("--dataset", default=None, help="dataset folder (default: the embedded one)")
    p.add_argument("--checkpoint", default=None, help="deep crop-yield checkpoint folder (default: the latest-tested SEMI-HA)")
    p.add_argument("--year", type=int, default=None, help="year (default: the checkpoint's test year)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_bench_ablation)
    p = bench.add_parser("app", help="the app in headless chromium: seconds per page visit and interaction against budget")
    p.add_argument("--repeat", type=_positive_int, default=1, help="runs of the script (fresh servers each); the median is shown")
    p.add_argument("--markdown", default=None, help="also write the table into this markdown file (its own section)")
    p.add_argument("--note", default=None, help="with --markdown: a sentence to add below the table")
    p.add_argument("--only", nargs="*", default=None, metavar="STEP", help="run only these steps (by name)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds before a step is reported as failed (default 120)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_bench_app)
    p = bench.add_parser("yield-throughput", help="training examples/s: the trainer end to end vs. the model's step alone")
    p.add_argument("--dataset", default=None, help="dataset folder (default: the embedded one)")
    p.add_argument(
        "--model",
        default="semi-ha",
        choices=("semi-ha", "semi-ha-loc", "s-ha", "semi-sa"),
        help="attention model (default semi-ha)",
    )
    p.add_argument("--size", default="demo", choices=("demo", "paper"), help="model size (default demo)")
    p.add_argument("--examples", type=_positive_int, default=1024, help="training examples of the trainer's epoch (default 1024)")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="examples per step (default 32)")
    p.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"), help="auto: the GPU when there is one")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="the trainer's loader worker processes (default: auto, 0 on the CPU, min(8, CPUs - 1) on a GPU)",
    )
    p.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "float32", "bfloat16"),
        help="training arithmetic (default auto: float16 mixed precision on a GPU, float32 on the CPU)",
    )
    p.add_argument(
        "--compile", action="store_true", help="torch.compile the training step (the trainer runs 2 epochs; the 2nd is timed)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_bench_throughput)
    from geoapp.experiments.cli import add_subcommands as add_experiments

    add_experiments(groups)
    return parser


RESOLUTION_KM = (0.1, 100.0)
"""The grid pixel sizes ``--resolution-km`` accepts (km); the grid's own check (Grid.covering) refines it per area."""


def _add_dask_flags(p: argparse.ArgumentParser, memory: bool) -> None:
    """``--scheduler`` (and ``--memory-gb``) of the commands that run data work on dask."""
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on an existing dask.distributed cluster (tcp://host:8786) instead of this machine's threads; "
        "its workers must read the input files at the same paths",
    )
    if memory:
        p.add_argument(
            "--memory-gb",
            type=_positive_gb,
            default=3.0,
            help="simulated build: memory budget that caps the years simulated at once (default 3)",
        )


def _positive_gb(text: str) -> float:
    """A memory size in GB (argparse type): a positive, finite number."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of GB such as 3, got {text!r}")
    return value


def _positive_km(text: str) -> float:
    """An argparse type: a grid pixel size in km within :data:`RESOLUTION_KM`."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of km") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of km, got {text!r}")
    lo, hi = RESOLUTION_KM
    if not lo <= value <= hi:
        raise argparse.ArgumentTypeError(
            f"{text!r} km is outside {lo:g}-{hi:g} km: a finer grid would not fit in memory, a coarser one has too few "
            "pixels for a tile (4 is the default)"
        )
    return value


def _year_list(text: str) -> str:
    """Comma-separated whole years in 1900-2100 (argparse type of ``--test-years``); returned as given."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() and 1900 <= int(p) <= 2100 for p in parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated years such as 2017,2018; got {text!r}")
    return ",".join(parts)


def _sampler_batch(text: str) -> int:
    """Quadruplets per batch of ``bench sampler``: a whole number in 1..1,000,000."""
    value = _positive_int(text)
    if value > 1_000_000:
        raise argparse.ArgumentTypeError(f"expected at most 1,000,000 quadruplets per batch; got {text!r}")
    return value


def _positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


_PATH_FLAGS = ("dataset", "path", "out", "manifest", "yields", "cropland", "checkpoint", "markdown", "config")
"""Flags (by dest) that name a file or folder: an empty value is refused, never read as "the default"."""


def _refuse_empty_paths(args: argparse.Namespace) -> None:
    """Refuse ``--dataset ""`` and the like: a command given an empty path must not fall back to a default silently."""
    for dest in _PATH_FLAGS:
        value = getattr(args, dest, None)
        if isinstance(value, str) and not value.strip():
            flag = "--" + dest.replace("_", "-")
            raise InputError(f"{flag} is empty; expected a path (leave {flag} out to use its default, where it has one)")


# ---- the error policy ---------------------------------------------------------------------------
EXIT_USER = 2
"""Exit status of a failure the user can fix: bad input, a file, the machine (and argparse's usage errors)."""
EXIT_INTERNAL = 1
"""Exit status of an internal error (a bug) or running out of memory."""
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143
"""Exit statuses after Ctrl-C and after SIGTERM (128 + the signal number, as shells report them)."""


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that ``finally`` blocks remove what was half-written."""


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While the command runs, SIGTERM unwinds like Ctrl-C (temporaries removed) instead of killing the process."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def stop(signum, frame):  # noqa: ANN001, ARG001
        raise _Terminated()

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def _one_line_warnings(debug: bool) -> Iterator[None]:
    """Warnings as ``warning: <message>`` lines (with --debug, Python's form with the file and line)."""
    if debug:
        yield
        return
    original = warnings.formatwarning
    warnings.formatwarning = lambda message, category, filename, lineno, line=None: f"warning: {message}\n"  # noqa: ARG005
    try:
        yield
    finally:
        warnings.formatwarning = original


def _out_flag(args: argparse.Namespace | None) -> str:
    """How to tell the user to write elsewhere: ``--out`` when the command has one."""
    return "choose another --out" if args is not None and hasattr(args, "out") else "choose another location"


def _os_error_message(exc: OSError, args: argparse.Namespace | None) -> str:
    """One line for an OSError that reached the command line: the path, what happened, what to do."""
    path = exc.filename if exc.filename is not None else None
    shown = repr(str(path)) if path is not None else None
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        target = shown or (repr(str(args.out)) if args is not None and getattr(args, "out", None) else "the output")
        return f"no space left on device while writing {target}: free space or {_out_flag(args)}"
    if exc.errno == errno.EROFS:
        return f"{shown or 'the output'} is on a read-only filesystem: {_out_flag(args)}"
    if isinstance(exc, PermissionError):
        return f"permission denied on {shown or 'a file or folder'}: fix its permissions or {_out_flag(args)}"
    if isinstance(exc, IsADirectoryError):
        return f"{shown or 'the path'} is a folder where a file was expected: give a file's path"
    if isinstance(exc, NotADirectoryError):
        return f"{shown or 'the path'}: part of the path is a file, not a folder; check the path"
    if isinstance(exc, FileNotFoundError):
        return f"no such file or folder: {shown or str(exc)}; check the path"
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{reason}{f' ({shown})' if shown else ''}; check the path and the device, or rerun with --debug"


EXIT_PIPE_CLOSED = 141
"""Status when the program reading the output stopped early (``... | head``): 128 + SIGPIPE, as a shell's own tools."""


def _stdout_closed(exc: BaseException) -> bool:
    """Whether ``exc`` is the reader of stdout having gone (``| head``), not a pipe geoapp itself opened."""
    if not isinstance(exc, BrokenPipeError) or not hasattr(select, "poll"):
        return False
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & select.POLLERR for _, event in poller.poll(0))  # a pipe without a reader
    except (OSError, ValueError, AttributeError):  # no real stdout (a test's capture): not a closed pipe
        return False


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that Python's flush at exit does not report the closed pipe again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _report(exc: BaseException, args: argparse.Namespace | None, debug: bool) -> int:
    """Print the one ``error:`` line for ``exc`` (after the traceback with --debug); return the exit status."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, _Terminated):
        message, status = "stopped by SIGTERM; nothing half-written was kept", EXIT_TERMINATED
    elif isinstance(exc, KeyboardInterrupt):
        message, status = "interrupted; nothing half-written was kept", EXIT_INTERRUPTED
    elif isinstance(exc, DiskFullError):
        message = f"no space left on device while writing {exc.target!r}: free space or {_out_flag(args)}"
        message, status = message + " (the previous output, if any, is intact)", EXIT_USER
    elif isinstance(exc, GeoappError):
        message, status = str(exc), EXIT_USER
    elif isinstance(exc, OSError):
        message, status = _os_error_message(exc, args), EXIT_USER
    elif isinstance(exc, MemoryError):
        message = "out of memory; use a smaller configuration or dataset, or a machine with more memory"
        status = EXIT_INTERNAL
    else:
        first = (str(exc).strip().splitlines() or [""])[0]
        detail = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        message, status = f"internal error: {detail}; rerun with --debug and report it", EXIT_INTERNAL
    # one write, newline included: the workers of a torchrun job share stderr, and print's two writes
    # (text, then newline) could put two workers' errors on one line
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and apply the error policy (docs/errors.md); returns the exit status.

    Every failure prints one line to stderr, ``error: <what went wrong and what to do>``, and returns
    non-zero: 2 for what the user can fix (a geoapp error, a file or device problem: permission
    denied, a folder where a file was expected, no space left), 1 for an internal error, 130 after
    Ctrl-C and 143 after SIGTERM. ``--debug`` prints the traceback first. argparse's usage errors
    keep their usage line and status 2 (``SystemExit``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args: argparse.Namespace | None = None
    debug = "--debug" in argv  # until parsed, so that a failure while building the parser is shown in full too
    try:
        args = build_parser().parse_args(argv)
        debug = bool(args.debug)
        func: Callable[[argparse.Namespace], int] = args.func
        with _sigterm_raises(), _one_line_warnings(debug):
            _refuse_empty_paths(args)
            status = func(args)
            sys.stdout.flush()  # here, not at exit: a reader gone by now is handled below, quietly
            return status
    except (Exception, KeyboardInterrupt) as exc:
        if _stdout_closed(exc):  # the reader had what it wanted: nothing to report
            _quiet_stdout()
            return EXIT_PIPE_CLOSED
        return _report(exc, args, debug)
