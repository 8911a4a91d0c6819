"""The Yield map in headless chromium on a dataset built from real files, chosen in the sidebar:
no SIMULATED badge, the source files listed, and an info box (not an error) while no checkpoint was
trained on it. The server gets its own data, checkpoint and jobs folders."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from geoapp.app_support.provenance import short_crs
from tests.app.real_standin import make_real_standin
from tests.browser.conftest import screenshot, serve_app
from tests.browser.test_browser import _assert_no_errors, _open, _wait_idle

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def real_app(request, tiny_dataset_path, tmp_path_factory):
    """(base URL, real dataset folder) of a server whose data directory holds the tiny simulation and a real dataset."""
    root = tmp_path_factory.mktemp("real-app")
    data = root / "data"
    data.mkdir()
    shutil.copytree(tiny_dataset_path, data / tiny_dataset_path.name)
    try:
        real = request.getfixturevalue("real_dataset_path")  # built from a fixture download
    except pytest.FixtureLookupError:
        real = make_real_standin(tiny_dataset_path, root / "ia_il_soybean_real")
    shutil.copytree(real, data / real.name)
    env = {
        "GEOAPP_DATA_DIR": str(data),
        "GEOAPP_CHECKPOINT_DIR": str(root / "checkpoints"),
        "GEOAPP_JOBS_DIR": str(root / "jobs"),
    }
    with serve_app("streamlit-real.log", **env) as url:
        yield url, data / real.name


def test_yield_map_on_the_real_dataset_shows_its_sources_not_the_simulated_badge(page, real_app):
    url, real = real_app
    card = json.loads((real / "dataset.json").read_text())
    _open(page, url + "/")  # a fresh server's first session starts at / (see docs: deep links)
    _open(page, url + "/yield_map")
    sidebar = page.locator("[data-testid=stSidebar]")
    sidebar.get_by_text(re.compile("SIMULATED")).first.wait_for(timeout=30_000)  # the simulation comes first in the list

    sidebar.locator("[data-testid=stSelectbox]").filter(has_text="Dataset").click()
    page.get_by_role("option", name=card["title"]).click()
    _wait_idle(page)
    page.get_by_text("No checkpoint trained on this dataset").wait_for(timeout=30_000)
    _assert_no_errors(page)
    assert "SIMULATED" not in sidebar.inner_text().upper()
    main = page.locator("[data-testid=stMain]").inner_text()
    assert "simulated" not in main.lower(), main
    label = f"Real data · {len(card['sources'])} source files"
    sidebar.get_by_text(label).click()  # open the expander
    _wait_idle(page)
    listed = sidebar.inner_text()
    assert all(short_crs(s["crs"]) in listed for s in card["sources"] if s.get("crs")), listed
    assert sidebar.locator("[data-testid=stDataFrame]").count() == 1  # file, CRS, units of each source
    assert "python -m geoapp train yield --dataset" in main
    screenshot(page, "yield_map_real")
