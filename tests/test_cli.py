"""Tests for the command line (geoapp.cli) and ``python -m geoapp``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from geoapp import cli
from geoapp.paths import REPO_ROOT
from geoapp.viz import offline_assets


def run_module(*args: str, code: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    cmd = [sys.executable, "-c", code] if code is not None else [sys.executable, "-m", "geoapp", *args]
    return subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)


# ---- data info --------------------------------------------------------------------------------


def test_data_info_prints_banner_and_title(tiny_dataset_path, capsys):
    assert cli.main(["data", "info", "--path", str(tiny_dataset_path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("*** SIMULATED DATA")
    assert "Simulated Corn Belt (tiny, 8 km)" in out
    assert any(line.startswith("counties") and line.rstrip().endswith("201") for line in lines)
    assert any(line.startswith("years") and "[2012, 2016]" in line for line in lines)
    assert "noise_floor_rmse_bu_acre" in out


def test_data_info_json(tiny_dataset_path, capsys):
    assert cli.main(["data", "info", "--path", str(tiny_dataset_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["simulated"] is True
    assert summary["title"] == "Simulated Corn Belt (tiny, 8 km)"
    assert summary["path"] == str(tiny_dataset_path)
    assert summary["years"] == [2012, 2016]
    assert summary["counties"] == 201
    assert summary["grid"]["tile_px"] == 8 and summary["grid"]["tile_km"] == 64.0
    assert summary["grid"]["crs"] == "EPSG:5070" and summary["grid"]["resolution_km"] == 8.0
    assert summary["bands"]["lst_day"] == "degC"
    assert summary["months"] == "Mar-Sep (7 steps)"
    assert 140 <= summary["labelled_per_year_mean"] <= 160
    assert len(summary["fingerprint"]) == 16


def test_data_info_missing_dataset(capsys):
    assert cli.main(["data", "info", "--path", "/nonexistent"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("error: dataset folder '/nonexistent' does not exist")
    assert "python -m geoapp data build" in err


def test_data_info_default_path_uses_data_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(tmp_path))
    assert cli.main(["data", "info", "--config", "paper"]) == 2
    assert str(tmp_path / "corn_belt_sim_paper") in capsys.readouterr().err


def test_data_build_does_not_overwrite_without_force(tiny_dataset_path, capsys):
    before = (tiny_dataset_path / "dataset.json").read_bytes()
    assert cli.main(["data", "build", "--out", str(tiny_dataset_path), "--quiet"]) == 0
    assert "exists; use --force to rebuild" in capsys.readouterr().out
    assert (tiny_dataset_path / "dataset.json").read_bytes() == before


# ---- help -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["data", "--help"],
        ["data", "build", "--help"],
        ["data", "info", "--help"],
        ["data", "ingest", "--help"],
        ["assets", "--help"],
        ["assets", "install", "--help"],
        ["bench", "--help"],
        ["bench", "data", "--help"],
    ],
)
def test_help_at_every_level(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m geoapp")


@pytest.mark.parametrize("argv", [[], ["data"], ["nope"], ["data", "info", "--config", "huge"]])
def test_bad_usage_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


# ---- data ingest ------------------------------------------------------------------------------


def test_data_ingest_missing_manifest(tmp_path, capsys):
    out = tmp_path / "cube.nc"
    assert cli.main(["data", "ingest", "--manifest", str(tmp_path / "absent.csv"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("error: manifest '") and err.endswith("absent.csv' does not exist")
    assert not out.exists()


def test_data_ingest_bad_manifest_columns(tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    manifest.write_text("band,year,path\nndvi,2017,a.tif\n")
    assert cli.main(["data", "ingest", "--manifest", str(manifest), "--out", str(tmp_path / "cube.nc")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: manifest ")
    assert "missing ['month']" in err
    assert list(tmp_path.iterdir()) == [manifest]


def test_data_ingest_bad_rows_are_named(tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    manifest.write_text("band,year,month,path\nrain,2017,7,a.tif\nndvi,2017,13,b.tif\n")
    assert cli.main(["data", "ingest", "--manifest", str(manifest), "--out", str(tmp_path / "cube.nc")]) == 2
    err = capsys.readouterr().err
    assert "has 4 problems" in err
    assert "line 2: unknown band 'rain'" in err
    assert "line 3: month 13 is outside the growing season" in err
    assert "line 3: raster file 'b.tif' not found" in err
    assert not (tmp_path / "cube.nc").exists()


# ---- assets install ---------------------------------------------------------------------------


def test_install_leaflet_into_target(tmp_path):
    dest = offline_assets.install_leaflet(tmp_path)
    assert dest == tmp_path / "leaflet"
    src = offline_assets._source()
    assert (dest / "leaflet.js").read_bytes() == (src / "leaflet.js").read_bytes()
    assert (dest / "leaflet.css").is_file() and (dest / "images").is_dir()
    assert offline_assets.leaflet_installed(tmp_path)
    assert not offline_assets.leaflet_installed(tmp_path / "elsewhere")
    # idempotent
    assert offline_assets.install_leaflet(tmp_path) == dest


def test_assets_install_command(tmp_path, monkeypatch, capsys):
    static = tmp_path / "static"
    monkeypatch.setattr(offline_assets, "static_dir", lambda: static)
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(tmp_path / "data"))
    assert cli.main(["assets", "install"]) == 0
    out = capsys.readouterr().out
    assert f"Leaflet installed in {static / 'leaflet'}" in out
    assert (static / "leaflet" / "leaflet.js").stat().st_size > 100_000
    assert offline_assets.leaflet_installed(static)
    geojson = tmp_path / "data" / "cache" / "counties_default.geojson"
    assert f"county GeoJSON cached at {geojson}" in out
    assert len(json.loads(geojson.read_text())["features"]) == 1175


# ---- python -m geoapp ---------------------------------------------------------------------------


def test_python_m_geoapp_help():
    proc = run_module("--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage: python -m geoapp" in proc.stdout
    for group in ("data", "assets", "bench"):
        assert group in proc.stdout


def test_python_m_geoapp_error_exit_status():
    proc = run_module("data", "info", "--path", "/nonexistent")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: dataset folder '/nonexistent' does not exist")
    assert "Traceback" not in proc.stderr


def test_core_modules_do_not_import_streamlit():
    code = (
        "import sys, geoapp, geoapp.cli, geoapp.data.simulate, geoapp.data.dataset, geoapp.viz.maps, geoapp.viz.colors\n"
        "bad = sorted(m for m in sys.modules if m == 'streamlit' or m.startswith('streamlit.'))\n"
        "print('streamlit-modules:', bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = run_module(code=code)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "streamlit-modules: []" in proc.stdout


def test_paths_follow_environment(tmp_path, monkeypatch):
    from geoapp import paths

    monkeypatch.setenv("GEOAPP_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "c"))
    assert paths.data_dir() == tmp_path / "d" and paths.checkpoint_dir() == tmp_path / "c"
    monkeypatch.delenv("GEOAPP_DATA_DIR")
    assert paths.data_dir() == REPO_ROOT / "data"
    assert paths.static_dir() == REPO_ROOT / "static"
    assert (REPO_ROOT / "geoapp" / "cli.py").is_file()
    assert Path(cli.__file__).resolve().parent.parent == REPO_ROOT
