"""Cached probe results for the Encoder probes page."""

from __future__ import annotations

import streamlit as st

from geoapp.analysis.probe import RegressionProbe, regression_probe
from geoapp.app_support.location import cached_encoder

__all__ = ["cached_regression_probe"]


@st.cache_resource(show_spinner="Fitting the regression probe (a few seconds, once per encoder)…", max_entries=8)
def cached_regression_probe(name: str, fingerprint: str) -> RegressionProbe:
    """The distance-to-coast probe of encoder ``name`` (choice key); ``fingerprint`` keys the cache to its weights."""
    return regression_probe(cached_encoder(name))
