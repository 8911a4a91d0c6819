"""Linear probes of location embeddings: what a linear model reads off them.

- :func:`country_probe`, the poster's classification task: embed land points, label each with the
  ISO country of the nearest GeoNames place (:func:`geoapp.data.geonames.country_of`, offline), fit a
  multinomial logistic regression on a training split and report accuracy on held-out points.
- :func:`regression_probe`, the poster's regression task: a continuous global field predicted from
  the embedding by ridge regression (regularisation chosen by cross-validation), scored on held-out
  points by R^2 and RMSE. The field is the distance to the sea coast, km
  (:func:`geoapp.data.coast.coast_distance_km`: real coastlines; why this field is said there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression, RidgeCV

from geoapp.data.coast import coast_distance_km
from geoapp.data.geonames import country_of
from geoapp.data.land import sample_land_points

__all__ = ["country_probe", "regression_probe", "RegressionProbe"]


def _embed(encoder, pts: np.ndarray) -> np.ndarray:
    """(N, D) float embeddings of (N, 2) lat/lon degrees, in batches."""
    with torch.no_grad():
        t = torch.as_tensor(pts, dtype=torch.float32)
        return (
            torch.cat([encoder.embed_locations(t[i : i + 4096, 0], t[i : i + 4096, 1]) for i in range(0, len(t), 4096)])
            .float()
            .numpy()
        )


def country_probe(
    encoder, n_points: int = 20_000, test_fraction: float = 0.25, min_count: int = 20, seed: int = 0
) -> dict[str, float]:
    """Held-out accuracy of a logistic-regression country probe on ``encoder``'s embeddings.

    Points are uniform on land (seeded); countries with fewer than ``min_count`` points and points
    with no country within 500 km are dropped. Also reports the majority-class accuracy.
    """
    pts = sample_land_points(n_points, seed=seed + 7)
    labels = country_of(pts)
    keep = labels != ""
    values, counts = np.unique(labels[keep], return_counts=True)
    common = set(values[counts >= min_count])
    keep &= np.isin(labels, list(common))
    pts, labels = pts[keep], labels[keep]
    emb = _embed(encoder, pts)
    order = np.random.default_rng(seed).permutation(len(pts))
    n_test = int(len(pts) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    clf = LogisticRegression(max_iter=300, C=10.0)
    clf.fit(emb[train], labels[train])
    acc = float(np.mean(clf.predict(emb[test]) == labels[test]))
    majority = float(np.mean(labels[test] == values[np.argmax(counts)]))
    return {"accuracy": acc, "majority_baseline": majority, "n_countries": len(common), "n_points": int(len(pts))}


@dataclass
class RegressionProbe:
    """Held-out result of :func:`regression_probe`: scores, and the points for an error map.

    ``points`` (N, 2) lat/lon degrees of the held-out points; ``true`` and ``predicted`` (N,) km.
    """

    field: str
    r2: float
    rmse_km: float
    mean_baseline_rmse_km: float
    points: np.ndarray
    true: np.ndarray
    predicted: np.ndarray

    def summary(self) -> dict[str, float | str | int]:
        """The scores as a JSON-ready dict (without the point arrays)."""
        return {
            "field": self.field,
            "r2": self.r2,
            "rmse_km": self.rmse_km,
            "mean_baseline_rmse_km": self.mean_baseline_rmse_km,
            "n_test": int(len(self.points)),
        }


def regression_probe(encoder, n_points: int = 20_000, test_fraction: float = 0.25, seed: int = 0) -> RegressionProbe:
    """Ridge regression of the distance to the coast (km) on ``encoder``'s embeddings of land points.

    Points uniform on land (seeded); the regularisation strength is chosen by efficient leave-one-out
    cross-validation on the training split (``RidgeCV``). Also reports the RMSE of predicting the
    training mean everywhere (the score of an embedding that knows nothing).
    """
    pts = sample_land_points(n_points, seed=seed + 11)
    target = coast_distance_km(pts)
    emb = _embed(encoder, pts)
    order = np.random.default_rng(seed).permutation(len(pts))
    n_test = int(len(pts) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    reg = RidgeCV(alphas=np.logspace(-4, 2, 13)).fit(emb[train], target[train])
    pred = reg.predict(emb[test])
    err = pred - target[test]
    rmse = float(np.sqrt(np.mean(err**2)))
    baseline = float(np.sqrt(np.mean((target[test] - target[train].mean()) ** 2)))
    r2 = 1.0 - float(np.sum(err**2) / np.sum((target[test] - target[test].mean()) ** 2))
    return RegressionProbe("distance to the coast (km)", r2, rmse, baseline, pts[test], target[test], pred)
