"""AppTest fixtures: the app runs on the tiny simulated dataset in a temporary data directory, and
(``real_env``) beside it a dataset built from real files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.app.real_standin import make_real_standin


@pytest.fixture()
def app_env(tiny_dataset_path, tmp_path, monkeypatch):
    """A data directory holding only the tiny dataset; returns that directory."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copytree(tiny_dataset_path, data / tiny_dataset_path.name)
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(data))
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    return data


@pytest.fixture(scope="session")
def standin_real_dataset(tiny_dataset_path, tmp_path_factory) -> Path:
    """The tiny simulation re-labelled as real data (tests/app/real_standin.py): five gap-free years,
    enough to train a tiny checkpoint on."""
    return make_real_standin(tiny_dataset_path, tmp_path_factory.mktemp("real") / "ia_il_soybean_real")


@pytest.fixture(scope="session")
def real_dataset(request, standin_real_dataset) -> Path:
    """A dataset built from real files: the project's ``real_dataset_path`` (built by
    geoapp.data.real_dataset from a fixture download) when defined, else the stand-in."""
    try:
        return request.getfixturevalue("real_dataset_path")
    except pytest.FixtureLookupError:
        return standin_real_dataset


def _beside(app_env: Path, dataset: Path) -> Path:
    target = app_env / dataset.name
    shutil.copytree(dataset, target)
    return target


@pytest.fixture()
def real_env(app_env, real_dataset) -> Path:
    """The data directory of ``app_env`` with the real dataset beside the simulated one; returns the
    real dataset's folder there (pass ``sel_dataset=str(path)`` to choose it)."""
    return _beside(app_env, real_dataset)


@pytest.fixture()
def trainable_real_env(app_env, standin_real_dataset) -> Path:
    """As :func:`real_env`, with the stand-in: the built fixture dataset has three years and an EVI gap
    in its only possible training year, which the trainer cannot standardise."""
    return _beside(app_env, standin_real_dataset)
