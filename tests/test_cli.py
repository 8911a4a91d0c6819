"""Tests for the command line (geoapp.cli) and ``python -m geoapp``."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from geoapp import cli
from geoapp.config import ConfigField, config_fields, setting
from geoapp.config_cli import DeferredParser, config_values, flag_name
from geoapp.errors import InputError
from geoapp.models.yield_models import MODEL_NAMES
from geoapp.paths import REPO_ROOT
from geoapp.training.location_trainer import LocationTrainConfig
from geoapp.training.yield_trainer import MODEL_OVERRIDE_KEYS, YieldTrainConfig
from geoapp.viz import offline_assets


def run_module(*args: str, code: str | None = None, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    """``python -m geoapp ...`` (or ``python -c code``) with the installed package, from ``cwd``."""
    cmd = [sys.executable, "-c", code] if code is not None else [sys.executable, "-m", "geoapp", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


# ---- data info --------------------------------------------------------------------------------


def test_data_info_prints_banner_and_title(tiny_dataset_path, capsys):
    assert cli.main(["data", "info", "--path", str(tiny_dataset_path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("*** SIMULATED DATA")
    assert "Simulated Corn Belt (tiny, 8 km)" in out
    assert any(line.startswith("counties") and line.rstrip().endswith("201") for line in lines)
    assert any(line.startswith("years") and line.rstrip().endswith("2012-2016 (5 years)") for line in lines)
    assert "noise_floor_rmse_bu_acre" in out


def test_data_info_json(tiny_dataset_path, capsys):
    assert cli.main(["data", "info", "--path", str(tiny_dataset_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["simulated"] is True
    assert summary["title"] == "Simulated Corn Belt (tiny, 8 km)"
    assert summary["path"] == str(tiny_dataset_path)
    assert summary["years"] == [2012, 2013, 2014, 2015, 2016]
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
        ["train", "--help"],
        ["train", "yield", "--help"],
        ["train", "location", "--help"],
        ["train", "calibrate", "--help"],
        ["evaluate", "--help"],
        ["evaluate", "yield", "--help"],
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


# ---- train: flags generated from the config dataclasses ---------------------------------------

TRAIN_CONFIGS = [("yield", YieldTrainConfig), ("location", LocationTrainConfig)]


def _train_parser(kind: str) -> argparse.ArgumentParser:
    """The completed ``train <kind>`` parser of a fresh ``build_parser()``."""
    parser = cli.build_parser()
    for name in ("train", kind):
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    assert isinstance(parser, DeferredParser)
    return parser.complete()


def _sample(f: ConfigField) -> tuple[list[str], Any]:
    """Command-line words that set field ``f`` to a value other than its default, and that value."""
    flag = flag_name(f)
    if f.type is bool:
        return ([flag] if not f.default else ["--no-" + flag[2:]]), not f.default
    if f.type is dict:
        words, value = [], {}
        for key, field in ((x.name, x) for x in config_fields(f.keys_from) if x.name in f.choices):
            text, item = _sample_scalar(field)
            words += [flag, f"{key}={text}"]
            value[key] = item
        return words, value
    text, value = _sample_scalar(f)
    return [flag, text], value


def _sample_scalar(f: ConfigField) -> tuple[str, Any]:
    if f.choices:
        value = next(c for c in f.choices if c != f.default)
        return str(value), value
    if f.type is bool:
        return str(not f.default).lower(), not f.default
    if f.type is int:
        value = 3 if f.default is None else f.default + 3  # an optional int (None: auto) takes a number too
        return str(value), value
    if f.type is float:
        return repr(f.default * 1.5), f.default * 1.5
    return "x", "x"


@pytest.mark.parametrize("kind, cls", TRAIN_CONFIGS)
def test_every_config_field_has_a_flag_with_its_help_and_default(kind, cls, capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", kind, "--help"])
    out = capsys.readouterr().out
    actions = {a.dest: a for a in _train_parser(kind)._actions}
    for f in config_fields(cls):
        assert f.help, f"{cls.__name__}.{f.name} has no help text"
        assert flag_name(f) in out, f"no {flag_name(f)} in train {kind} --help"
        action = actions[f.name]
        assert flag_name(f) in action.option_strings
        assert action.help.startswith(f.help.replace("%", "%%"))
        assert action.default is argparse.SUPPRESS  # absent unless given, so --config values survive
        if f.type is not bool:
            assert "(default: " in action.help
        if f.choices is not None and f.type is not dict:
            assert all(str(c) in out for c in f.choices)


@pytest.mark.parametrize("kind, cls", TRAIN_CONFIGS)
def test_every_flag_lands_in_the_config(kind, cls):
    parser = cli.build_parser()
    everything, expected = [], {}
    for f in config_fields(cls):
        words, value = _sample(f)
        args = parser.parse_args(["train", kind, *words])
        cfg = cls.from_dict(config_values(args, cls))
        assert getattr(cfg, f.name) == value, f"{words} gave {getattr(cfg, f.name)!r}"
        assert cfg == cls(**{f.name: value}), f"{words} changed another field"
        everything += words
        expected[f.name] = value
    cfg = cls.from_dict(config_values(parser.parse_args(["train", kind, *everything]), cls))
    assert cfg == cls(**expected)
    assert config_values(parser.parse_args(["train", kind]), cls) == {}  # no flags: the dataclass defaults


def test_existing_yield_flags_keep_their_names():
    args = cli.build_parser().parse_args(
        "train yield --model s-ha --size paper --test-year 2017 --n-train-years 7 --epochs 3 --lr 0.01 "
        "--r-n-km 30 --r-d-km 120 --exclude-group SOIL --device cpu --seed 2 --patience 2 --batch-size 8".split()
    )
    cfg = YieldTrainConfig.from_dict(config_values(args, YieldTrainConfig))
    assert (cfg.model, cfg.size, cfg.test_year, cfg.n_train_years, cfg.epochs, cfg.lr) == ("s-ha", "paper", 2017, 7, 3, 0.01)
    assert (cfg.r_n_km, cfg.r_d_km, cfg.exclude_group, cfg.device, cfg.seed, cfg.patience, cfg.batch_size) == (
        30.0,
        120.0,
        "SOIL",
        "cpu",
        2,
        2,
        8,
    )
    args = cli.build_parser().parse_args("train location --n-train 10 --footprint-km 200 --no-relief --device cpu".split())
    cfg = LocationTrainConfig.from_dict(config_values(args, LocationTrainConfig))
    assert (cfg.n_train, cfg.footprint_km, cfg.relief, cfg.device) == (10, 200.0, False, "cpu")


def test_flags_override_the_config_file(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"epochs": 5, "exclude_group": "VI", "model_overrides": {"alpha": 0.1, "beta": 2.0}}))
    args = cli.build_parser().parse_args(
        ["train", "yield", "--config", str(path), "--exclude-group", "none", "--model-override", "beta=3", "--lr", "0.5"]
    )
    cfg = YieldTrainConfig.from_dict(config_values(args, YieldTrainConfig, cli._config_file(args.config)))
    assert cfg.epochs == 5 and cfg.lr == 0.5 and cfg.exclude_group is None
    assert cfg.model_overrides == {"alpha": 0.1, "beta": 3.0}  # merged key by key


@pytest.mark.parametrize(
    "words, message",
    [
        (["--model-override", "alpha=x"], "alpha: 'x' is not a number"),
        (["--model-override", "heads=2.5"], "heads: '2.5' is not an integer"),
        (["--model-override", "norm_first=maybe"], "norm_first: 'maybe' is not true or false"),
        (["--model-override", "target_mean=3"], "unknown key 'target_mean'"),
        (["--model-override", "alpha"], "expected KEY=VALUE, got 'alpha'"),
        (["--exclude-group", "WIND"], "invalid choice: 'WIND'"),
        (["--model", "lstm"], "invalid choice: 'lstm'"),
        (["--device", "tpu"], "invalid choice: 'tpu'"),
        (["--r-n-km", "near"], "invalid float value: 'near'"),
    ],
)
def test_bad_flag_values_are_usage_errors(words, message, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "yield", *words])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_config_values_name_the_value(tmp_path, capsys):
    assert cli.main(["train", "yield", "--epochs", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: epochs must be a positive integer, got 0"
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"model_overrides": {"use_context": False}}))
    assert cli.main(["train", "yield", "--config", str(path)]) == 2
    assert "model_overrides cannot set ['use_context']; allowed keys: " in capsys.readouterr().err


def test_choices_and_help_live_in_the_dataclass():
    with pytest.raises(InputError, match=r"size must be one of \['paper', 'demo'\], got 'huge'"):
        YieldTrainConfig(size="huge")
    with pytest.raises(InputError, match=r"exclude_group must be one of .* or None, got 'WIND'"):
        YieldTrainConfig(exclude_group="WIND")
    with pytest.raises(InputError, match="device must be one of"):
        LocationTrainConfig(device="tpu")
    with pytest.raises(InputError, match="model_overrides must be a mapping"):
        YieldTrainConfig(model_overrides=[("alpha", 1.0)])
    assert "target_mean" not in MODEL_OVERRIDE_KEYS and "alpha" in MODEL_OVERRIDE_KEYS
    with pytest.raises(TypeError, match="needs a help text"):
        setting(1)


@pytest.fixture()
def captured_training(monkeypatch):
    """Replace the trainers (and the dataset loader) by recorders: what the CLI would train, and where."""
    from geoapp.training import location_trainer, yield_trainer

    calls: dict[str, Any] = {}

    def fake(name):
        def record(*args, **kwargs):
            calls[name] = (args, kwargs)
            return Path("/run/best")

        return record

    monkeypatch.setattr(yield_trainer, "train_yield", fake("yield"))
    monkeypatch.setattr(location_trainer, "train_location", fake("location"))
    from geoapp.data.dataset import default_dataset_path

    def dataset(path):
        return argparse.Namespace(years=list(range(2003, 2019)), root=Path(path) if path else default_dataset_path("demo"))

    monkeypatch.setattr(cli, "_dataset_arg", dataset)
    return calls


def test_default_run_folders_follow_the_checkpoint_dir(captured_training, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "yield", "--model", "s-ha", "--test-year", "2017", "--exclude-group", "SOIL", "--quiet"]) == 0
    (cfg, _, out), kwargs = captured_training["yield"]
    assert cfg.model == "s-ha" and out == tmp_path / "ckpt" / "yield" / "s-ha-2017-no-SOIL" and kwargs["progress"] is False
    assert cli.main(["train", "location", "--epochs", "1"]) == 0
    (cfg, out), _ = captured_training["location"]
    assert cfg.epochs == 1 and out == tmp_path / "ckpt" / "location" / "contrastive-sh-siren"
    assert cli.main(["train", "yield", "--out", "mine"]) == 0
    assert captured_training["yield"][0][2] == Path("mine")


def test_default_run_folder_does_not_depend_on_the_current_folder(captured_training, tmp_path, monkeypatch):
    monkeypatch.delenv("GEOAPP_CHECKPOINT_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "yield"]) == 0
    assert captured_training["yield"][0][2] == REPO_ROOT / "checkpoints" / "yield" / "semi-ha-2018"
    assert not (tmp_path / "checkpoints").exists()


def test_a_users_dataset_gets_its_own_default_run_folders(captured_training, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    assert cli.main(["train", "yield", "--dataset", str(tmp_path / "ia_il_real"), "--test-year", "2018"]) == 0
    assert captured_training["yield"][0][2] == tmp_path / "ckpt" / "yield" / "ia_il_real" / "semi-ha-2018"
    args = ["train", "yield", "--dataset", str(tmp_path / "ia_il_real"), "--model", "ridge", "--n-train-years", "2"]
    assert cli.main(args) == 0
    assert captured_training["yield"][0][2] == tmp_path / "ckpt" / "yield" / "ia_il_real" / "ridge-2018"


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_every_model_kind_trains_through_train_yield(captured_training, tmp_path, monkeypatch, model):
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path))
    args = ["train", "yield", "--model", model, "--test-year", "2016", "--n-train-years", "4"]
    assert cli.main(args) == 0
    (cfg, _, out), _ = captured_training["yield"]
    assert (cfg.model, cfg.test_year, cfg.n_train_years) == (model, 2016, 4)
    assert out == tmp_path / "yield" / f"{model}-2016"
    assert cli.main(["train", "yield", "--model", model, "--epochs", "0"]) == 2  # every option is still checked


def test_train_yield_help_lists_every_model(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "yield", "--help"])
    text = capsys.readouterr().out
    assert all(name in text for name in MODEL_NAMES)


def test_other_commands_do_not_import_torch():
    code = (
        "import sys\nfrom geoapp import cli\n"
        "cli.build_parser().parse_args(['data', 'info'])\n"
        "print('torch imported:', 'torch' in sys.modules)\n"
    )
    proc = run_module(code=code)
    assert proc.returncode == 0, proc.stderr
    assert "torch imported: False" in proc.stdout


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


def test_python_m_geoapp_help(tmp_path):
    proc = run_module("--help", cwd=tmp_path)  # the installed package, from any folder
    assert proc.returncode == 0, proc.stderr
    assert "usage: python -m geoapp" in proc.stdout
    for group in ("data", "train", "evaluate", "assets", "bench"):
        assert group in proc.stdout
    proc = run_module("train", "yield", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "--model-override KEY=VALUE" in proc.stdout and "--r-n-km" in proc.stdout


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
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", "")  # empty: unset, not the current folder
    assert paths.checkpoint_dir() == REPO_ROOT / "checkpoints"
    monkeypatch.setenv("GEOAPP_JOBS_DIR", "~/geoapp-jobs")
    assert paths.jobs_dir() == Path.home() / "geoapp-jobs"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", "rel")  # relative: against the current folder, made absolute
    assert paths.checkpoint_dir() == tmp_path / "rel"
    assert paths.static_dir() == REPO_ROOT / "static"
    assert (REPO_ROOT / "geoapp" / "cli.py").is_file()
    assert Path(cli.__file__).resolve().parent.parent == REPO_ROOT


def test_data_build_and_ingest_name_a_scheduler_that_does_not_answer(tmp_path, monkeypatch, capsys):
    import socket

    from geoapp.data import parallel

    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_S", 1.0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    assert cli.main(["data", "build", "--out", str(tmp_path / "ds"), "--quiet", "--scheduler", address]) == 2
    assert f"the dask scheduler at '{address}' does not answer" in capsys.readouterr().err
    manifest = tmp_path / "m.csv"
    manifest.write_text("band,year,month,path\nndvi,2016,7,missing.tif\n")
    assert cli.main(["data", "ingest", "--manifest", str(manifest), "--out", str(tmp_path / "c.nc"), "--scheduler", address]) == 2
    assert f"the dask scheduler at '{address}' does not answer" in capsys.readouterr().err
    assert not (tmp_path / "ds").exists() and not (tmp_path / "c.nc").exists()


def test_bench_data_and_build_flags_parse():
    parser = cli.build_parser()
    args = parser.parse_args(["data", "build", "--config", "paper", "--memory-gb", "2.5", "--scheduler", "tcp://h:8786"])
    assert (args.memory_gb, args.scheduler) == (2.5, "tcp://h:8786")
    args = parser.parse_args(["bench", "data", "--config", "paper", "--progress", "--out", "x"])
    assert (args.config, args.progress, args.out, args.memory_gb, args.chunks) == ("paper", True, "x", 3.0, False)
    with pytest.raises(SystemExit):
        parser.parse_args(["data", "build", "--memory-gb", "-1"])


def test_train_calibrate_fits_removes_and_refuses(tiny_dataset_path, tmp_path, capsys):
    from geoapp.data.dataset import load_dataset
    from geoapp.training.checkpoint import read_card
    from geoapp.training.yield_trainer import train_yield

    ds = load_dataset(tiny_dataset_path)
    best = train_yield(YieldTrainConfig(model="ridge", test_year=2016, n_train_years=3), ds, tmp_path / "r", progress=False)
    ds.close()
    argv = ["train", "calibrate", str(best), "--dataset", str(tiny_dataset_path)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "county-trend fitted on 2012-2014" in out and "validation 2015 RMSE" in out
    assert read_card(best)["calibration"]["kind"] == "county-trend"
    assert cli.main([*argv, "--kind", "none"]) == 0
    assert "calibration removed" in capsys.readouterr().out and "calibration" not in read_card(best)
    assert cli.main(["train", "calibrate", str(tmp_path / "nothing"), "--dataset", str(tiny_dataset_path)]) != 0
    assert "no checkpoint card" in capsys.readouterr().err


def test_the_years_line_names_a_span_or_every_year_when_some_are_missing():
    from geoapp.data.summary import years_text

    assert years_text([2018, 2016, 2017]) == "2016-2018 (3 years)"
    assert years_text([2016, 2018]) == "2016, 2018 (2 years)"  # not read as the span 2016-2018
    assert years_text([2018]) == "2018 (1 year)"


def test_bench_ensemble_refuses_overrides_that_are_not_a_json_object(capsys):
    assert cli.main(["bench", "ensemble", "--model", "s-ha", "--overrides", "[1]"]) != 0
    assert "--overrides must be a JSON object" in capsys.readouterr().err
    assert cli.main(["bench", "ensemble", "--model", "s-ha", "--overrides", "{augment"]) != 0
    assert "--overrides must be a JSON object" in capsys.readouterr().err


def test_bench_ensemble_names_bad_seeds(capsys):
    assert cli.main(["bench", "ensemble", "--model", "s-ha", "--seeds", "0,x"]) != 0
    assert "--seeds must be comma-separated whole seeds" in capsys.readouterr().err
