"""AppTest fixtures: the app runs on the tiny simulated dataset in a temporary data directory."""

from __future__ import annotations

import shutil

import pytest


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
