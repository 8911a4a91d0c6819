"""Command line: ``python -m geoapp <group> <command> ...``; ``--help`` works at every level.

Groups:
    data build    simulate the embedded dataset (demo: 4 km; paper: 1 km)
    data info     print a dataset's summary
    data ingest   reproject user rasters listed in a manifest onto the cube grid
    assets install copy Leaflet into static/ and cache the county GeoJSON (offline maps)
    bench data    time the demo build and measure its peak memory
    bench difficulty  held-out R^2 of ridge / boosted trees vs. the simulation's ceiling
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from geoapp.errors import GeoappError

__all__ = ["main", "build_parser"]


# ---- data -------------------------------------------------------------------------------------
def _data_build(args: argparse.Namespace) -> int:
    from geoapp.data.dataset import build_default_dataset, default_dataset_path, load_dataset

    out = Path(args.out) if args.out else default_dataset_path(args.config)
    if (out / "dataset.json").exists() and not args.force:
        print(f"{out} exists; use --force to rebuild")
        return 0
    path = build_default_dataset(args.config, progress=not args.quiet, out_dir=out)
    ds = load_dataset(path)
    print(f"built {ds.title} at {path} (fingerprint {ds.fingerprint})")
    return 0


def _data_info(args: argparse.Namespace) -> int:
    from geoapp.data.dataset import default_dataset_path, load_dataset
    from geoapp.data.summary import dataset_summary, format_summary

    ds = load_dataset(args.path or default_dataset_path(args.config))
    summary = dataset_summary(ds)
    print(json.dumps(summary, indent=1) if args.json else format_summary(summary))
    return 0


def _data_ingest(args: argparse.Namespace) -> int:
    from geoapp.data.ingest import ingest_manifest

    report = ingest_manifest(args.manifest, args.out, resolution_m=args.resolution_km * 1000.0, title=args.title)
    print(report.summary())
    return 0


# ---- assets -----------------------------------------------------------------------------------
def _assets_install(args: argparse.Namespace) -> int:
    from geoapp.data.counties import simplified_geojson_path
    from geoapp.viz.offline_assets import install_leaflet

    print(f"Leaflet installed in {install_leaflet()}")
    print(f"county GeoJSON cached at {simplified_geojson_path()}")
    return 0


# ---- bench ------------------------------------------------------------------------------------
def _bench_data(args: argparse.Namespace) -> int:
    from geoapp.bench.data_build import run_data_benchmark

    result = run_data_benchmark(config=args.config, repeats=args.repeats)
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


# ---- parser -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``python -m geoapp``."""
    parser = argparse.ArgumentParser(prog="python -m geoapp", description="geoapp command line")
    groups = parser.add_subparsers(dest="group", required=True, metavar="{data,assets,bench}")

    data = groups.add_parser("data", help="build, inspect and ingest datasets").add_subparsers(
        dest="command", required=True, metavar="{build,info,ingest}"
    )
    p = data.add_parser("build", help="simulate the embedded Corn Belt dataset")
    p.add_argument("--config", choices=["demo", "paper"], default="demo", help="demo: 4 km, 16 px tiles; paper: 1 km, 50 px tiles")
    p.add_argument("--out", help="output folder (default: data/corn_belt_sim_<config>)")
    p.add_argument("--force", action="store_true", help="rebuild even if the dataset exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_data_build)

    p = data.add_parser("info", help="print a dataset's summary")
    p.add_argument("--path", help="dataset folder (default: the embedded demo dataset)")
    p.add_argument("--config", choices=["demo", "paper"], default="demo")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_data_info)

    p = data.add_parser("ingest", help="reproject rasters listed in a manifest onto the cube grid")
    p.add_argument("--manifest", required=True, help="CSV with columns band,year,month,path")
    p.add_argument("--out", required=True, help="output cube (.nc)")
    p.add_argument("--resolution-km", type=float, default=4.0, help="grid pixel size in km (default 4)")
    p.add_argument("--title", default=None, help="dataset title stored in the cube")
    p.set_defaults(func=_data_ingest)

    assets = groups.add_parser("assets", help="offline assets the app serves").add_subparsers(
        dest="command", required=True, metavar="{install}"
    )
    p = assets.add_parser("install", help="copy Leaflet into static/ and cache the county GeoJSON")
    p.set_defaults(func=_assets_install)

    bench = groups.add_parser("bench", help="benchmarks that print figures").add_subparsers(
        dest="command", required=True, metavar="{data,difficulty}"
    )
    p = bench.add_parser("data", help="time the dataset build and measure peak memory")
    p.add_argument("--config", choices=["demo", "paper"], default="demo")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_bench_data)
    p = bench.add_parser("difficulty", help="held-out R^2 of ridge and boosted trees vs. the noise-free ceiling")
    p.add_argument("--path", help="dataset folder (default: the embedded demo dataset)")
    p.add_argument("--test-years", default="2014,2015,2016,2017,2018", help="comma-separated test years")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_bench_difficulty)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; a geoapp error prints one clear line to stderr and exits with status 2."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except GeoappError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
