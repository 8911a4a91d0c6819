"""Fixtures shared by the bad-input tests: the tiny dataset opened once per module, and a ridge checkpoint of it.

A test module that needs another ``ds`` (a copy to damage, say) defines its own, which takes precedence.
"""

from __future__ import annotations

import pytest

from geoapp.data.dataset import load_dataset
from geoapp.training.ridge_trainer import train_ridge


@pytest.fixture(scope="module")
def ds(tiny_dataset_path):
    """The tiny simulated dataset, opened once per module."""
    dataset = load_dataset(tiny_dataset_path)
    yield dataset
    dataset.close()


@pytest.fixture(scope="module")
def ridge(ds, tmp_path_factory):
    """A ridge checkpoint of the tiny dataset (closed form: a second)."""
    return train_ridge(ds, [2012, 2013], 2014, 2015, tmp_path_factory.mktemp("ridge") / "run")
