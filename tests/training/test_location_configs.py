"""Shipped location-training configs read as valid LocationTrainConfig values."""

from __future__ import annotations

import json

from geoapp.paths import REPO_ROOT
from geoapp.training.location_trainer import LocationTrainConfig


def test_gpu_config_is_a_larger_version_of_the_defaults():
    values = json.loads((REPO_ROOT / "configs" / "location-gpu.json").read_text())
    cfg = LocationTrainConfig.from_dict(values)
    default = LocationTrainConfig()
    assert cfg.device == "cuda"
    assert cfg.n_train > default.n_train and cfg.patch_px > default.patch_px and cfg.hidden_dim > default.hidden_dim
    # the choices that shape the similarity field stay those of the shipped model
    assert (cfg.sh_degree, cfg.soft_target_km, cfg.relief_dropout) == (
        default.sh_degree,
        default.soft_target_km,
        default.relief_dropout,
    )
