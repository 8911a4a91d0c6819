"""The Geolocalization page's inputs: a held-out patch (random split or unseen block) or a user's image.

Each returns a :class:`GeolocationInput`: the image, what the model is told about its width, the
true place when it is known (held-out patches, georeferenced GeoTIFFs), and notes to show.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np
import streamlit as st

from geoapp.analysis.location import LoadedLocationModel, footprint_note
from geoapp.data.image_upload import read_image_upload
from geoapp.training.location_trainer import LocationTrainConfig, block_test_locations, split_locations

__all__ = ["GeolocationInput", "UPLOAD_LIMIT_MB", "UPLOAD_TYPES", "held_out_input", "upload_input"]

UPLOAD_LIMIT_MB = 5
"""Largest upload, in MB: the widget's limit, the label's and the check's (.streamlit/config.toml agrees)."""

UPLOAD_TYPES = ["png", "jpg", "jpeg", "tif", "tiff"]

HELD_OUT_SETS = {
    "random": "Random held-out points (regions seen in training)",
    "blocks": "Unseen regions (10-degree blocks held out of training)",
}


@dataclass
class GeolocationInput:
    """An image to geolocate and what is known about it."""

    image: np.ndarray
    footprint_km: float | None
    truth: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    label: str = "input"


@st.cache_data(show_spinner=False, max_entries=4)
def _held_out_points(config_json: str, which: str) -> np.ndarray:
    """(N, 2) lat/lon of a checkpoint's held-out set (``random`` or ``blocks``), from its config as JSON."""
    cfg = LocationTrainConfig.from_dict(json.loads(config_json))
    return split_locations(cfg)[2] if which == "random" else block_test_locations(cfg)


def held_out_input(model: LoadedLocationModel) -> GeolocationInput:
    """A held-out Blue Marble patch at the model's reference footprint, RGB only or with relief."""
    which = st.radio("Held-out set", list(HELD_OUT_SETS), format_func=HELD_OUT_SETS.get, horizontal=True, key="geo_heldout_set")
    points = _held_out_points(json.dumps(asdict(model.config)), which)
    if len(points) == 0:
        st.info("This checkpoint was trained without held-out blocks; showing the random held-out points.")
        points = _held_out_points(json.dumps(asdict(model.config)), "random")
    idx = st.number_input(f"Held-out location (0-{len(points) - 1})", 0, len(points) - 1, value=0, key="geo_idx")
    rgb_only = True
    if model.config.relief:
        rgb_only = st.toggle("RGB only (as an uploaded image)", value=True, key="geo_rgb_only")
    truth = (float(points[idx, 0]), float(points[idx, 1]))
    image = model.patch(*truth, rgb_only=rgb_only)
    kind = "RGB only" if rgb_only else "RGB + shaded relief"
    return GeolocationInput(
        image, model.config.footprint_km, truth, label=f"Blue Marble, {model.config.footprint_km:,.0f} km, {kind}"
    )


def upload_input(model: LoadedLocationModel) -> GeolocationInput | None:
    """A user's PNG, JPEG or GeoTIFF (None until one is uploaded), with its width in km or 'unknown'."""
    upload = st.file_uploader(
        f"A satellite-style image, north up (PNG, JPEG or GeoTIFF, at most {UPLOAD_LIMIT_MB} MB)",
        type=UPLOAD_TYPES,
        key="geo_upload",
        max_upload_size=UPLOAD_LIMIT_MB,
    )
    if upload is None:
        return None
    image = read_image_upload(upload.getvalue(), max_bytes=UPLOAD_LIMIT_MB * 1024 * 1024)
    lo, hi = model.footprint_range_km
    known = image.width_km is not None
    unknown = st.checkbox(
        "Width unknown",
        value=not known,
        key="geo_width_unknown",
        help=f"An image of unknown width is treated as {model.config.footprint_km:,.0f} km wide (the model's reference scale).",
    )
    width = None
    if not unknown:
        default = float(round(image.width_km)) if known else float(model.config.footprint_km)
        width = st.number_input(
            f"Image width, km (trained on {lo:,.0f}-{hi:,.0f} km)",
            min_value=1.0,
            max_value=20_000.0,
            value=default,
            step=50.0,
            key="geo_width_km",
        )
    result = GeolocationInput(image.rgb, width, image.centre, notes=list(image.notes), label=upload.name)
    if image.centre is not None:
        result.notes.append(
            f"GeoTIFF georeferenced ({image.crs}): centre {image.centre[0]:.2f}, {image.centre[1]:.2f}, "
            f"{image.width_km:,.0f} km wide: the error of each prediction is shown"
        )
    if note := footprint_note(width, model):
        result.warnings.append(note)
    result.notes.append("RGB only: the relief band is set to the neutral value the model was trained with")
    return result
