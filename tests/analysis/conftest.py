"""The analysis tests keep their computed results in a temporary folder, never in the data directory."""

from __future__ import annotations

import pytest

from geoapp.analysis.result_cache import cache_root


@pytest.fixture(autouse=True)
def _results_in_tmp(tmp_path_factory):
    with cache_root(tmp_path_factory.mktemp("results")):
        yield
