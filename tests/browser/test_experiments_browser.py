"""The Experiments page in headless chromium: tables and figures from a results store on the demo dataset,
drawn with no request to another host. The server gets its own results store, jobs and checkpoint folders."""

from __future__ import annotations

import re

import pytest

from geoapp.data.dataset import default_dataset_path, load_dataset
from geoapp.experiments.plan import PLANS
from geoapp.experiments.store import OK, ResultStore, make_record
from tests.browser.conftest import screenshot, serve_app
from tests.browser.test_browser import _assert_no_errors, _open

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def experiments_url(tmp_path_factory):
    """The app with a results store holding the scarcity plan's S-HA and SEMI-HA runs (made-up scores)."""
    root = tmp_path_factory.mktemp("experiments-app")
    ds = load_dataset(default_dataset_path("demo"))
    store = ResultStore(
        root / "experiments" / ds.name / "results.jsonl",
        {"name": ds.name, "fingerprint": ds.fingerprint, "simulated": ds.simulated},
    )
    ds.close()
    for run in PLANS["paper"].runs():
        if run.model in ("s-ha", "semi-ha") and run.seed == 0 and run.exclude_group is None:
            rmse = 6.0 + (10 - run.n_train_years) * 0.1 - (0.3 if run.model == "semi-ha" else 0.0)
            metrics = {"rmse": rmse, "r2": 0.6, "n": 850, "year": run.test_year}
            store.append(make_record(run, dataset=store.dataset, status=OK, metrics=metrics, seconds=60.0))
    with serve_app(
        "streamlit-experiments.log",
        GEOAPP_EXPERIMENTS_DIR=str(root / "experiments"),
        GEOAPP_JOBS_DIR=str(root / "jobs"),
        GEOAPP_CHECKPOINT_DIR=str(root / "checkpoints"),
    ) as url:
        yield url


def test_experiments_page_shows_tables_and_figures_offline(page, experiments_url):
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    _open(page, experiments_url + "/")  # a fresh server's first session starts at / (see docs: deep links)
    _open(page, experiments_url + "/experiments")
    _assert_no_errors(page)
    assert page.get_by_role("heading", name="Experiments").count() >= 1
    assert "SIMULATED" in page.locator("[data-testid=stSidebar]").inner_text().upper()
    page.get_by_text("30 of 135 runs of plan 'paper' have a result").wait_for(timeout=30_000)
    page.locator("[data-testid=stPlotlyChart]").first.wait_for(timeout=30_000)  # the label-scarcity curve
    # runs a runner on this machine trains now (in the project's runs folder) are counted apart and not queued
    heading = page.get_by_text(re.compile(r"^Missing runs \(105 of 135(; (\d+) training now)?\)$"))
    assert heading.count() == 1
    training = re.search(r"; (\d+) training now", heading.inner_text())
    queued = 105 - (int(training.group(1)) if training else 0)
    assert page.get_by_role("button", name=f"Queue {queued} missing runs as training jobs").count() == 1
    external = [u for u in requests if not u.startswith(experiments_url) and not u.startswith(("data:", "blob:"))]
    assert not external, f"the page fetched outside resources: {external[:5]}"
    screenshot(page, "experiments")
    _assert_no_errors(page)


def test_the_results_download_as_a_csv_file_labelled_simulated(page, experiments_url, tmp_path):
    import pandas as pd

    _open(page, experiments_url + "/")
    _open(page, experiments_url + "/experiments")
    button = page.get_by_role("button", name="Results of plan 'paper' (CSV, 30 runs)")
    button.wait_for(timeout=30_000)
    with page.expect_download(timeout=30_000) as download:
        button.click()
    assert download.value.suggested_filename == "corn_belt_sim_demo-paper-results.csv"
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    table = pd.read_csv(path)
    assert len(table) == 30 and set(table["data"]) == {"SIMULATED"} and set(table["model"]) == {"s-ha", "semi-ha"}
    _assert_no_errors(page)
