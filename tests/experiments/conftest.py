"""Fixtures of the experiment tests: a stand-in dataset (name, fingerprint, years) and a fake trainer."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class FakeDataset:
    """What the runner and the store read of a dataset: its name, fingerprint, simulated flag and years."""

    name: str = "corn_belt_sim_fake"
    fingerprint: str = "fp-1"
    simulated: bool = True
    years: list[int] = field(default_factory=lambda: list(range(2003, 2019)))
    title: str = "Fake Corn Belt (simulated)"


class FakeTrainer:
    """Train-and-score stand-in: records its calls, writes a marker into the run folder, fails on request."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.calls: list[str] = []
        self.fail = fail or set()

    def __call__(self, run, ds, folder: Path) -> dict:
        self.calls.append(run.name)
        if run.model in self.fail or run.name in self.fail:
            raise RuntimeError(f"boom in {run.name}")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "best").mkdir(exist_ok=True)
        rmse = 5.0 + (run.test_year - 2014) * 0.1 + run.seed * 0.01 + (10 - run.n_train_years) * 0.2
        return {"rmse": rmse, "r2": 0.7 - rmse / 100, "n": 100, "year": run.test_year, "checkpoint": folder / "best"}


@pytest.fixture()
def fake_ds() -> FakeDataset:
    return FakeDataset()


@pytest.fixture()
def store_env(tmp_path, monkeypatch) -> Path:
    """Results root and data folder in a temporary directory; returns the results root."""
    root = tmp_path / "experiments"
    monkeypatch.setenv("GEOAPP_EXPERIMENTS_DIR", str(root))
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(tmp_path / "data"))
    return root
