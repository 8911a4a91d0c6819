"""The Encoder probes page under AppTest: the regression probe's scores and its three maps, per encoder."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from geoapp.paths import REPO_ROOT


def test_probe_page_scores_and_maps_each_encoder(app_env):
    at = AppTest.from_file(str(REPO_ROOT / "pages/encoder_probes.py"), default_timeout=180).run()
    assert not at.exception and not at.error
    labels = [m.label for m in at.metric]
    assert labels == ["R^2 (held out)", "RMSE", "RMSE of predicting the mean"]
    r2 = float(at.metric[0].value)
    assert -1.0 < r2 <= 1.0
    assert at.metric[1].value.endswith("km")
    for view in ("True", "Predicted", "Error"):
        at.radio(key="probe_view").set_value(view).run()
        assert not at.exception and not at.error
    at.selectbox(key="probe_encoder").set_value("geoclip").run()
    assert not at.exception and not at.error
    assert float(at.metric[0].value) > 0.5  # GeoCLIP's embedding reads the distance to the coast well
