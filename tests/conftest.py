"""Shared fixtures: a tiny simulated dataset (two states, 8 km, five years) built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from geoapp.data.dataset import save_simulated
from geoapp.data.simulate import SimulationConfig, simulate

TINY = SimulationConfig(
    name="tiny",
    resolution_m=8000.0,
    tile_px=8,
    first_year=2012,
    last_year=2016,
    states=("IA", "IL"),
    labelled_per_year=150,
)
"""A configuration small enough for unit tests (about a second to build)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests are slow too, so ``-m "not slow"`` (``make test-fast``) leaves them out."""
    for item in items:
        if item.get_closest_marker("browser") is not None and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _results_in_tmp(tmp_path_factory):
    """Results the analyses keep on disk go to a temporary folder in every test, never the data directory."""
    from geoapp.analysis.result_cache import cache_root

    with cache_root(tmp_path_factory.mktemp("results")):
        yield


@pytest.fixture(scope="session")
def tiny_sim():
    """The tiny simulation in memory (SimulatedDataset)."""
    return simulate(TINY, progress=False)


@pytest.fixture(scope="session")
def tiny_dataset_path(tiny_sim, tmp_path_factory) -> Path:
    """The tiny simulation saved as a dataset folder."""
    return save_simulated(tiny_sim, tmp_path_factory.mktemp("datasets") / "corn_belt_sim_tiny")


# ---- a dataset built from a user's own files (tests/fixtures/real_files.py) --------------------
REAL_BUILD = {"resolution_km": 8.0, "tile_px": 8}
"""Build settings of the shared real dataset: 8 km, 8-pixel tiles (a few seconds)."""


@pytest.fixture(scope="session")
def real_download(tmp_path_factory) -> dict[str, Path]:
    """A user's download folder (rasters in four CRSs, land cover, Quick Stats CSV, manifest), written once."""
    from tests.fixtures.real_files import write_real_download

    return write_real_download(tmp_path_factory.mktemp("download"))


@pytest.fixture(scope="session")
def real_build(real_download, tmp_path_factory):
    """(folder, BuildReport) of the dataset built once from :func:`real_download`, states from the rasters."""
    from geoapp.data.real_dataset import build_real_dataset

    out = tmp_path_factory.mktemp("real_datasets") / "ia_il_real"
    return build_real_dataset(
        real_download["manifest"], real_download["yields"], out, cropland=real_download["cropland"], progress=False, **REAL_BUILD
    )


@pytest.fixture(scope="session")
def real_dataset_path(real_build) -> Path:
    """The real dataset folder built from the fixture download (dataset.json, cube.nc, counties.csv, yields.csv)."""
    return real_build[0]
