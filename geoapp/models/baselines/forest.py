"""The ``rf`` baseline's model: a random forest as plain arrays, so it saves as safetensors (never a pickle).

A fitted :class:`sklearn.ensemble.RandomForestRegressor` is turned into one set of node arrays for
all its trees (:func:`forest_from_sklearn`); :class:`TreeEnsemble` holds them as buffers (saved and
loaded like any geoapp model) and predicts from them in numpy: the mean over trees of the value of
the leaf each example reaches, going left where ``x[feature] <= threshold``, with ``x`` cast to
float32 first, exactly as scikit-learn's trees do.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from geoapp.data.args import as_int, given
from geoapp.errors import InputError

__all__ = ["TreeEnsemble", "forest_from_sklearn"]


class TreeEnsemble(nn.Module):
    """A forest of regression trees as node arrays (all trees concatenated).

    Buffers: ``left``, ``right`` (n_nodes,) int64 global indices of the children (-1 at a leaf),
    ``feature`` (n_nodes,) int64 (-2 at a leaf), ``threshold`` (n_nodes,) float64, ``value``
    (n_nodes,) float64 (the node's mean yield, bu/acre), ``roots`` (n_trees,) int64.
    """

    def __init__(self, n_nodes: int, n_trees: int, n_features: int) -> None:
        super().__init__()
        n_nodes, n_trees = as_int(n_nodes, "n_nodes", minimum=1), as_int(n_trees, "n_trees", minimum=1)
        self.n_features = as_int(n_features, "n_features", minimum=1)
        for name in ("left", "right", "feature"):
            self.register_buffer(name, torch.zeros(n_nodes, dtype=torch.int64))
        self.register_buffer("threshold", torch.zeros(n_nodes, dtype=torch.float64))
        self.register_buffer("value", torch.zeros(n_nodes, dtype=torch.float64))
        self.register_buffer("roots", torch.zeros(n_trees, dtype=torch.int64))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(N, F) features -> (N,) float64 predictions: the mean over the trees of each tree's leaf value."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise InputError(f"features must be an (N, {self.n_features}) array, got shape {x.shape}")
        x32 = x.astype(np.float32)  # scikit-learn's trees compare float32 features with float64 thresholds
        left, right = self.left.numpy(), self.right.numpy()
        feature, threshold = self.feature.numpy(), self.threshold.numpy()
        node = np.broadcast_to(self.roots.numpy(), (len(x), len(self.roots))).copy()  # (N, trees)
        while True:
            leaf = left[node] < 0
            if leaf.all():
                break
            f = np.where(leaf, 0, feature[node])
            go_left = np.take_along_axis(x32, f, axis=1) <= threshold[node]
            node = np.where(leaf, node, np.where(go_left, left[node], right[node]))
        return self.value.numpy()[node].mean(axis=1)


def forest_from_sklearn(forest: object) -> TreeEnsemble:
    """The :class:`TreeEnsemble` of a fitted scikit-learn ``RandomForestRegressor`` (single output).

    Raises:
        InputError: ``forest`` is not a fitted single-output random forest regressor.
    """
    trees = getattr(forest, "estimators_", None)
    if not trees or getattr(forest, "n_outputs_", 1) != 1:
        raise InputError(f"forest must be a fitted single-output RandomForestRegressor, got {given(forest)}")
    parts = {k: [] for k in ("left", "right", "feature", "threshold", "value")}
    roots, offset = [], 0
    for est in trees:
        t = est.tree_
        roots.append(offset)
        for name, arr in (("left", t.children_left), ("right", t.children_right)):
            arr = arr.astype(np.int64)
            parts[name].append(np.where(arr >= 0, arr + offset, -1))
        parts["feature"].append(t.feature.astype(np.int64))
        parts["threshold"].append(t.threshold.astype(np.float64))
        parts["value"].append(t.value.reshape(t.node_count, -1)[:, 0].astype(np.float64))
        offset += t.node_count
    model = TreeEnsemble(offset, len(trees), int(forest.n_features_in_))
    for name, chunks in parts.items():
        getattr(model, name).copy_(torch.from_numpy(np.concatenate(chunks)))
    model.roots.copy_(torch.tensor(roots, dtype=torch.int64))
    return model
