"""Tests for geoapp.data.real_dataset: a dataset folder from a user's download folder, end to end.

The download (tests/fixtures/real_files.py) covers parts of Iowa and Illinois in 2016-2018: MODIS
GeoTIFFs in the sinusoidal projection, PRISM-like NetCDF in EPSG:4269, elevation in EPSG:4326, soils in
UTM 15N, an IGBP land-cover map and a Quick Stats export with its quirks. The shared build
(``real_build`` in tests/conftest.py) is at 8 km with 8-pixel tiles, states found from the rasters.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from geoapp.cli import main
from geoapp.data.bands import BANDS, MONTH_NAMES
from geoapp.data.counties import load_counties
from geoapp.data.dataset import load_dataset
from geoapp.data.nass import read_quickstats
from geoapp.data.real_dataset import build_real_dataset
from geoapp.data.tiles import tile_origin
from geoapp.errors import CRSError, InputError
from geoapp.training.yield_trainer import YieldTrainConfig, evaluate_yield, train_yield
from tests.conftest import REAL_BUILD
from tests.fixtures.quickstats import quickstats_csv, row
from tests.fixtures.rasters import from_origin
from tests.fixtures.real_files import GAPS, NO_CROP_COUNTY, YEARS, write_geotiff

SMALL = {"embed_dim": 16, "cnn_width": 4, "heads": 2, "layers": 1, "ff_dim": 32}


@pytest.fixture(scope="module")
def ds(real_dataset_path):
    d = load_dataset(real_dataset_path)
    yield d
    d.close()


def build(download: dict[str, Path], out: Path, **kw):
    """Build from ``download`` with the shared settings, ``kw`` overriding them."""
    args = {"cropland": download["cropland"], "progress": False, **REAL_BUILD, **kw}
    return build_real_dataset(args.pop("manifest", download["manifest"]), args.pop("yields", download["yields"]), out, **args)


def assert_nothing_written(out: Path) -> None:
    """No dataset folder and no temporary folder beside where it would be."""
    assert not out.exists()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")] == []


# ---- the build ---------------------------------------------------------------------------------


def test_folder_layout_and_card(real_build, ds) -> None:
    path, report = real_build
    assert sorted(p.name for p in path.iterdir()) == ["counties.csv", "cube.nc", "dataset.json", "yields.csv"]
    card = json.loads((path / "dataset.json").read_text())
    assert card["simulated"] is False and ds.simulated is False and ds.truth is None
    assert "simulated" not in ds.title.lower() and ds.title == card["title"] == report.title
    assert ds.years == list(YEARS) == card["years"] and ds.tile_px == 8
    assert ds.grid.resolution_m == 8000.0 and card["grid"] == ds.grid.to_attrs()
    assert card["states"] == ["IA", "IL"] and card["states_from"] == "raster footprints"
    assert report.states == ("IA", "IL") and report.states_from == "raster footprints"
    assert set(card["bands"]) == set(BANDS) and card["bands"]["evi"] == {"units": "1", "filled_slots": 20, "missing_slots": 1}
    assert card["n_counties"] == len(ds.counties) == report.counties_kept
    assert card["labelled_rows"] == int(ds.yields["labelled"].sum()) == report.labelled_rows
    assert card["fingerprint"] == ds.fingerprint == report.fingerprint
    assert ds.cube.attrs["source_manifest"] == "rasters.csv"
    assert ds.crop == "soybeans"  # the Quick Stats commodity it was built from


def test_card_lists_every_source_with_hash_crs_units_and_scaling(real_build, real_download, ds) -> None:
    folder = real_download["folder"]
    sources = ds.sources
    assert {s["kind"] for s in sources} == {"manifest", "raster", "yields", "cropland"}
    rasters = [s for s in sources if s["kind"] == "raster"]
    with real_download["manifest"].open() as fh:
        assert len(rasters) == sum(1 for _ in csv.DictReader(fh))
    for s in sources:  # names relative to the download folder; size and sha256 of the file's bytes
        data = (folder / s["file"]).read_bytes()
        assert s["size"] == len(data) and s["sha256"] == hashlib.sha256(data).hexdigest()

    def entry(band: str, month: int | None = 7) -> dict:
        return next(s for s in rasters if s["band"] == band and s["year"] in (2017, None) and s["month"] in (month, None))

    assert entry("ndvi")["crs"].startswith("+proj=sinu") and "+R=6371007.181" in entry("ndvi")["crs"]
    assert entry("ndvi")["scale"] == 0.0001 and entry("ndvi")["manifest_scale"] == 0.0001 and entry("ndvi")["file_scale"] == 1.0
    assert entry("evi")["scale"] == pytest.approx(0.0001) and entry("evi")["file_scale"] == pytest.approx(0.0001)
    assert (entry("lst_day")["scale"], entry("lst_day")["offset"], entry("lst_day")["units"]) == (0.02, -273.15, "degC")
    ppt = entry("ppt")
    assert (ppt["crs"], ppt["file"], ppt["variable"], ppt["layer"], ppt["units"]) == (
        "EPSG:4269",
        "prism/ppt_2017.nc",
        "ppt",
        7,
        "mm",
    )
    assert entry("elevation", None)["crs"] == "EPSG:4326" and entry("sand", None)["crs"] == "EPSG:26915"
    cropland = next(s for s in sources if s["kind"] == "cropland")
    assert cropland["crop_codes"] == [12, 14] and cropland["crs"].startswith("+proj=sinu")
    text = (real_build[0] / "dataset.json").read_text()
    assert str(folder) not in text and str(real_build[0]) not in text  # no absolute paths


def test_counties_anchors_and_coverage(real_build, ds) -> None:
    _, report = real_build
    counties = ds.counties
    assert list(counties.columns)[:9] == [
        "geoid", "name", "state", "n_pixels", "cropland_km2", "anchor_row", "anchor_col", "anchor_lat", "anchor_lon",
    ]  # fmt: skip
    interior = counties[counties["anchor_source"] == "interior"]
    assert interior["geoid"].tolist() == [NO_CROP_COUNTY] == report.interior_counties
    assert report.anchors == {"cropland": len(counties) - 1, "interior": 1} == ds.card["counts"]["anchors"]
    assert (counties.loc[counties["anchor_source"] == "cropland", "cropland_km2"] > 0).all()
    assert interior["cropland_km2"].iloc[0] == 0.0
    # every anchor pixel lies inside its county and leaves a whole tile on the grid
    polygons = load_counties(["IA", "IL"]).set_index("geoid").geometry
    h, w = ds.grid.shape
    for rec in counties.itertuples():
        assert polygons[rec.geoid].buffer(0.08).contains(shapely.Point(rec.anchor_lon, rec.anchor_lat)), rec.geoid
        assert tile_origin(rec.anchor_row, rec.anchor_col, ds.tile_px, (h, w)) == (rec.anchor_row - 4, rec.anchor_col - 4)
    # the counties of IA and IL are kept or dropped, never lost
    dropped = [g for ids in report.counties_dropped.values() for g in ids]
    assert len(dropped) + len(counties) == len(polygons) == 201 and not set(dropped) & set(counties["geoid"])
    assert 50 <= len(counties) <= 80  # the rasters cover eastern IA and north-western IL


def test_yields_kept_and_dropped_by_reason(real_build, real_download, ds) -> None:
    _, report = real_build
    nass = read_quickstats(real_download["yields"])
    kept = set(ds.counties["geoid"])
    assert report.yield_rows_read == len(nass)
    assert report.yield_rows_dropped_on_read["withheld"] > 0 and report.yield_rows_dropped_on_read["other_counties"] == 8
    assert report.yield_rows_dropped_on_read["other_commodity"] == 1 and report.yield_rows_dropped_on_read["other_data_item"] == 1
    drops = report.yield_rows_dropped
    assert drops["county outside the chosen states"] == 1  # the Wisconsin row
    assert drops["year not in the cube"] == int((nass["geoid"].isin(kept) & (nass["year"] == 2015)).sum())
    assert drops["county not covered by the rasters"] == int(
        (nass["geoid"].str[:2].isin(["17", "19"]) & ~nass["geoid"].isin(kept)).sum()
    )
    assert sum(drops.values()) + report.labelled_rows == len(nass)
    # yields.csv: every kept county and cube year, the NASS value where there is one
    assert len(ds.yields) == len(kept) * len(YEARS) and set(ds.yields["year"]) == set(YEARS)
    lab = ds.labelled().merge(nass, on=["geoid", "year"], suffixes=("", "_nass"))
    assert len(lab) == report.labelled_rows and np.allclose(lab["yield"], lab["yield_nass"])


def test_report_summary_and_gaps(real_build) -> None:
    _, report = real_build
    assert sorted((s.band, s.year, s.month) for s in report.ingest.missing) == sorted(GAPS)
    text = report.summary()
    for expected in (
        f"Counties: {report.counties_kept} kept, 135 dropped",
        "1 at the polygon's interior point (fallback): 19103",
        "Cube: 107 of 109 slots filled, 2 missing",
        f"evi 2017 {MONTH_NAMES[3]}",
        "dropped, county outside the chosen states: 1",
        "states IA, IL (raster footprints)",
    ):
        assert expected in text, expected


def test_fingerprint_is_stable_elsewhere_and_follows_the_settings(real_build, real_download, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(real_download["folder"], tmp_path / "moved" / "download"))
    files = {k: copy / v.relative_to(real_download["folder"]) for k, v in real_download.items() if k != "folder"}
    path, report = build(files, tmp_path / "elsewhere", states=["il", "IA"], name="other name")
    assert report.fingerprint == real_build[1].fingerprint and report.states_from == "given"
    path, changed = build(files, path, tile_px=6, force=True)  # replaces the dataset folder
    assert changed.fingerprint != report.fingerprint and load_dataset(path).tile_px == 6


def test_train_one_tiny_epoch_and_evaluate(ds, tmp_path: Path) -> None:
    cfg = YieldTrainConfig(
        model="semi-ha",
        test_year=2018,
        n_train_years=1,
        epochs=1,
        batch_size=16,
        max_train_examples=32,
        r_n_km=24.0,
        r_d_km=64.0,
        model_overrides=SMALL,
        device="cpu",
    )
    best = train_yield(cfg, ds, tmp_path, progress=False)
    card = json.loads((best / "card.json").read_text())
    assert card["dataset"]["fingerprint"] == ds.fingerprint and card["dataset"]["simulated"] is False
    result = evaluate_yield(best, ds)
    assert result["year"] == 2018 and result["n"] == len(ds.labelled(2018)) > 0
    assert np.isfinite(result["table"]["predicted"]).all() and np.isfinite(result["rmse"])


# ---- bad input ---------------------------------------------------------------------------------


def write_yields(path: Path, rows: list[dict]) -> Path:
    path.write_text(quickstats_csv(rows), encoding="utf-8")
    return path


def manifest_without(download: dict[str, Path], path: Path, band: str, month: str | None = None) -> Path:
    """A copy of the manifest (absolute raster paths) without ``band`` (only its ``month`` when given)."""
    table = pd.read_csv(download["manifest"], dtype=str, keep_default_na=False)
    table = table[(table["band"] != band) | ((table["month"] != month) if month else False)]
    table["path"] = [str(download["folder"] / p) for p in table["path"]]
    table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda d, t: {"yields": write_yields(t / "old.csv", [row(2001, "IOWA", "19", "SCOTT", "163", "40.0")])},
            InputError,
            r"'old.csv' has yields for years 2001 but the rasters cover 2016-2018",
        ),
        (
            lambda d, t: {"yields": write_yields(t / "ne.csv", [row(2017, "NEBRASKA", "31", "ADAMS", "001", "50.0")])},
            InputError,
            r"'ne.csv' has yields for counties of \['NE'\] only; none is a county of the chosen states \['IA', 'IL'\]",
        ),
        (
            lambda d, t: {
                "yields": write_yields(t / "corn.csv", [row(2017, "IOWA", "19", "SCOTT", "163", "190.0", commodity="CORN")])
            },
            InputError,
            r"corn.csv: no county rows for commodity 'SOYBEANS'; the file holds commodities \['CORN'\]",
        ),
        (
            lambda d, t: {"manifest": manifest_without(d, t / "rasters.csv", "lst_night")},
            InputError,
            r"'rasters.csv' has no raster for band\(s\) lst_night \(monthly\) in any year",
        ),
        (
            lambda d, t: {"manifest": manifest_without(d, t / "rasters.csv", "ppt", month="3")},
            InputError,
            r"'rasters.csv' has no raster for ppt Mar in any year; training standardises each month",
        ),
        (
            lambda d, t: {"states": ["IA", "NE"]},
            InputError,
            r"state\(s\) \['NE'\] are not covered by the rasters of 'rasters.csv'.*holds counties of \['IA', 'IL'\]",
        ),
        (
            lambda d, t: {
                "cropland": write_geotiff(t / "lc.tif", np.full((8, 8), 12, np.uint8), from_origin(0, 8, 1, 1), None, None)
            },
            CRSError,
            r"cropland raster 'lc.tif' has no CRS",
        ),
        (
            lambda d, t: {"crop_codes": [5]},
            InputError,
            r"cropland raster 'MCD12Q1_LC_Type1.tif' has no pixel of crop class\(es\) \[5\] over the study area",
        ),
        (
            lambda d, t: {"data_item": "SOYBEANS - YIELD, MEASURED IN LB / ACRE"},
            InputError,
            r"data_item .*LB / ACRE.* is not measured in BU / ACRE; a geoapp dataset holds yields in bu/acre",
        ),
    ],
    ids=[
        "yields-years",
        "yields-counties",
        "other-commodity",
        "band-missing",
        "month-missing",
        "states-not-covered",
        "cropland-no-crs",
        "no-crop",
        "not-bu-per-acre",
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(real_download, tmp_path: Path, make, error, match) -> None:  # noqa: ANN001
    out = tmp_path / "datasets" / "bad"
    out.parent.mkdir()
    with pytest.raises(error, match=match):
        build(real_download, out, **make(real_download, tmp_path))
    assert_nothing_written(out)


def test_existing_out_needs_force_and_must_be_a_dataset(real_build, real_download, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"output folder .* already exists; pass force=True \(--force\)"):
        build(real_download, real_build[0])
    mine = tmp_path / "my files"
    mine.mkdir()
    (mine / "thesis.docx").write_text("keep me")
    with pytest.raises(InputError, match=r"holds no dataset.json, so it is not a geoapp dataset"):
        build(real_download, mine, force=True)
    assert (mine / "thesis.docx").read_text() == "keep me"


# ---- command line ------------------------------------------------------------------------------


def test_cli_builds_a_real_dataset_and_prints_the_report(
    real_download, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli_real"
    argv = [
        "data", "build", "--manifest", str(real_download["manifest"]), "--yields", str(real_download["yields"]),
        "--out", str(out), "--cropland", str(real_download["cropland"]), "--crop-codes", "12,14", "--states", "IA,IL",
        "--resolution-km", "8", "--tile-px", "8", "--name", "ia_il", "--quiet",
    ]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Built real dataset 'ia_il'" in printed and "Anchors: " in printed and "Yields: " in printed
    assert load_dataset(out).card["name"] == "ia_il"
    assert main(argv) == 2
    assert "already exists; pass force=True (--force)" in capsys.readouterr().err


def test_cli_plausible_yield_range_refuses_yields_outside_it(
    real_download, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "narrow"
    argv = [
        "data", "build", "--manifest", str(real_download["manifest"]), "--yields", str(real_download["yields"]),
        "--out", str(out), "--states", "IA,IL", "--resolution-km", "8", "--tile-px", "8", "--quiet",
    ]  # fmt: skip
    assert main([*argv, "--plausible-yield", "0,10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "outside the plausible 0-10" in err, err
    assert not out.exists()
    with pytest.raises(SystemExit):
        main([*argv, "--plausible-yield", "150,0"])
    assert "expected 0 <= LO < HI" in capsys.readouterr().err
