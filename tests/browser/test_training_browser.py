"""The Training page in headless chromium: start a tiny job, watch its progress reach the end, and
find its checkpoint in the Yield map's model selector. The server gets its own (empty) jobs and
checkpoint folders, so the test leaves the project's checkpoints alone."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import screenshot, serve_app
from tests.browser.test_browser import _assert_no_errors, _open

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def training_url(tmp_path_factory):
    with _own_folders_server(tmp_path_factory.mktemp("training-app"), "streamlit-training.log") as url:
        yield url


def _own_folders_server(root, log_name: str):
    """The app with its own jobs and checkpoint folders under ``root`` (one training thread)."""
    return serve_app(
        log_name, GEOAPP_JOBS_DIR=str(root / "jobs"), GEOAPP_CHECKPOINT_DIR=str(root / "checkpoints"), OMP_NUM_THREADS="1"
    )


def test_start_a_job_see_it_finish_and_its_checkpoint_in_the_selector(page, training_url):
    _open(page, training_url + "/")  # a fresh server's first session starts at / (see docs: deep links)
    _open(page, training_url + "/training")
    _assert_no_errors(page)
    assert "CPU" in page.get_by_text(re.compile("No GPU found|GPU:")).first.inner_text()
    page.get_by_role("spinbutton", name="Epochs", exact=True).first.fill("1")
    page.get_by_role("spinbutton", name="Max training examples (0 = all)").fill("64")
    page.get_by_role("textbox", name="Run name").first.fill("browser-run")
    page.get_by_role("button", name="Start training").first.click()
    # the panel polls the status file every second: wait for the finished state
    page.get_by_text("Finished. Best checkpoint").wait_for(timeout=180_000)
    _assert_no_errors(page)
    progress = page.locator("[data-testid=stProgress]").first.inner_text()
    assert "epoch 1/1" in progress and "step 2/2" in progress
    page.locator("[data-testid=stPlotlyChart]").first.wait_for(timeout=30_000)  # the training curves
    page.locator("[data-testid=stPlotlyChart]").first.scroll_into_view_if_needed()
    screenshot(page, "training")
    _open(page, training_url + "/yield_map")
    sidebar = page.locator("[data-testid=stSidebar]")
    # the only checkpoint of this server, tested on the sidebar's year (2018): the selector's first choice
    screenshot(page, "training_yield_map")
    select = sidebar.locator("[data-testid=stSelectbox]").filter(has_text="Model checkpoint")
    shown = select.locator("input").first.input_value() or select.inner_text()
    assert "semi-ha · test 2018 (user/yield/browser-run)" in shown, shown
    _assert_no_errors(page)


@pytest.fixture(scope="module")
def ensemble_url(tmp_path_factory):
    """A server whose checkpoint folder holds two tiny S-HA seeds trained on the embedded (simulated) data."""
    from geoapp.data.dataset import default_dataset_path, load_dataset
    from geoapp.training.yield_trainer import YieldTrainConfig, train_yield

    root = tmp_path_factory.mktemp("ensemble-app")
    ds = load_dataset(default_dataset_path())
    for seed in (0, 1):
        cfg = YieldTrainConfig(
            model="s-ha",
            test_year=2018,
            epochs=1,
            batch_size=16,
            max_train_examples=32,
            device="cpu",
            seed=seed,
            model_overrides={"embed_dim": 16, "cnn_width": 4, "heads": 2, "layers": 1, "ff_dim": 32},
        )
        train_yield(cfg, ds, root / "checkpoints" / "user" / "yield" / f"tiny-seed{seed}", progress=False)
    with _own_folders_server(root, "streamlit-ensemble.log") as url:
        yield url


def test_combine_two_checkpoints_into_an_ensemble_and_find_it_in_the_selector(page, ensemble_url):
    _open(page, ensemble_url + "/")
    _open(page, ensemble_url + "/training")
    _assert_no_errors(page)
    page.get_by_text("Combine trained checkpoints into an ensemble").click()
    group = page.locator("[data-testid=stSelectbox]").filter(has_text="Model, test year and training years")
    group.wait_for(timeout=30_000)
    shown = group.locator("input").first.input_value() or group.inner_text()
    assert "s-ha · test 2018 · N_y 10 (2007-2016) (2 checkpoints)" in shown, shown
    page.get_by_role("textbox", name="Run name").last.fill("browser-ensemble")
    page.get_by_role("button", name="Write ensemble").click()
    page.get_by_text("Ensemble of 2 written to checkpoints/user/yield/browser-ensemble/best").wait_for(timeout=120_000)
    _assert_no_errors(page)
    screenshot(page, "training_ensemble")
    _open(page, ensemble_url + "/yield_map")
    select = page.locator("[data-testid=stSidebar] [data-testid=stSelectbox]").filter(has_text="Model checkpoint")
    select.click()
    page.get_by_text("s-ha ensemble of 2 · test 2018 (user/yield/browser-ensemble)").first.wait_for(timeout=30_000)
    _assert_no_errors(page)
