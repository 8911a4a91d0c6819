"""Location similarity in headless chromium: the poster's three reference places, each drawn with its own field.

Screenshots ``similarity_<place>.png`` (README: the shipped encoder's field for each reference).
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot
from tests.browser.test_browser import PAGES, _assert_no_errors, _open, _overlay_srcs, _wait_idle

pytestmark = pytest.mark.browser

PLACES = {"Hong Kong": "hong_kong", "Qinghai-Tibet Plateau": "qinghai_tibet", "Congo Basin": "congo_basin"}


def test_each_poster_reference_draws_its_own_field(page, app_url):
    _open(page, app_url + PAGES["location_similarity"])
    seen = set()
    for place, slug in PLACES.items():
        page.locator("[data-testid=stSelectbox]").filter(has_text="Reference preset").click()
        page.get_by_role("option", name=place, exact=True).click()
        _wait_idle(page)
        _assert_no_errors(page)
        field = _overlay_srcs(page)[1]  # [0] is the basemap, [1] the similarity field
        assert field not in seen, f"{place}: the same field as another reference"
        seen.add(field)
        screenshot(page, f"similarity_{slug}")
