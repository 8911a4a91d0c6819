"""Linear probe of location embeddings: how well a linear classifier reads the country.

The poster's country-classification task: embed land points, label each with the ISO country of the
nearest GeoNames place (:func:`geoapp.data.geonames.country_of`, offline), fit a multinomial logistic
regression on a training split and report accuracy on held-out points.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from geoapp.data.geonames import country_of
from geoapp.data.land import sample_land_points

__all__ = ["country_probe"]


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
    with torch.no_grad():
        t = torch.as_tensor(pts, dtype=torch.float32)
        emb = (
            torch.cat([encoder.embed_locations(t[i : i + 4096, 0], t[i : i + 4096, 1]) for i in range(0, len(t), 4096)])
            .float()
            .numpy()
        )
    order = np.random.default_rng(seed).permutation(len(pts))
    n_test = int(len(pts) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    clf = LogisticRegression(max_iter=300, C=10.0)
    clf.fit(emb[train], labels[train])
    acc = float(np.mean(clf.predict(emb[test]) == labels[test]))
    majority = float(np.mean(labels[test] == values[np.argmax(counts)]))
    return {"accuracy": acc, "majority_baseline": majority, "n_countries": len(common), "n_points": int(len(pts))}
