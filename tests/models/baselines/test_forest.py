"""The random forest as node arrays: saved as safetensors, loaded, and predicting exactly as scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor

from geoapp.errors import InputError
from geoapp.models.baselines.forest import TreeEnsemble, forest_from_sklearn
from geoapp.training.checkpoint import load_checkpoint, save_checkpoint


def test_loaded_predictions_equal_sklearns(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 12))
    y = 150 + 10 * x[:, 0] - 5 * x[:, 3] ** 2 + rng.normal(size=400)
    forest = RandomForestRegressor(n_estimators=25, min_samples_leaf=3, max_features=1 / 3, random_state=0).fit(x, y)
    model = forest_from_sklearn(forest)
    save_checkpoint(tmp_path / "rf", model, {"model": "test-forest"})
    weights, _, _ = load_checkpoint(tmp_path / "rf")
    assert not any(p.suffix in (".pkl", ".joblib") for p in (tmp_path / "rf").iterdir())
    loaded = TreeEnsemble(len(model.value), len(model.roots), 12)
    loaded.load_state_dict(weights)
    x_new = rng.normal(size=(300, 12))
    np.testing.assert_allclose(loaded.predict(x_new), forest.predict(x_new), rtol=0, atol=1e-9)
    np.testing.assert_allclose(loaded.predict(x), forest.predict(x), rtol=0, atol=1e-9)


def test_wrong_features_and_an_unfitted_forest_are_refused():
    with pytest.raises(InputError, match="fitted single-output RandomForestRegressor"):
        forest_from_sklearn(RandomForestRegressor())
    with pytest.raises(InputError, match=r"features must be an \(N, 4\) array"):
        TreeEnsemble(3, 1, 4).predict(np.zeros((2, 5)))
