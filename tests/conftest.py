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


@pytest.fixture(scope="session")
def tiny_sim():
    """The tiny simulation in memory (SimulatedDataset)."""
    return simulate(TINY, progress=False)


@pytest.fixture(scope="session")
def tiny_dataset_path(tiny_sim, tmp_path_factory) -> Path:
    """The tiny simulation saved as a dataset folder."""
    return save_simulated(tiny_sim, tmp_path_factory.mktemp("datasets") / "corn_belt_sim_tiny")
