"""The Geolocalization page's inputs: a held-out patch (random split or unseen block) or a user's image.

Each returns a :class:`GeolocationInput`: the image, what the model is told about its width, the
true place when it is known (held-out patches, georeferenced GeoTIFFs), and notes to show.

What the page says always concerns the input it names. A held-out index outside the set is an error
(nothing is geolocated), not a silently reused earlier patch. An upload's error names its file, and a
caption under the uploader names the file in use: a file over :data:`UPLOAD_LIMIT_MB` is refused by
Streamlit's uploader in the browser (a red note beside it in the uploader) and never reaches the
server (the widget keeps returning the file it held before, and the page is not rerun), so the
caption says so in advance rather than leaving an earlier file's message looking like the new one's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np
import streamlit as st

from geoapp.analysis.location import LoadedLocationModel, footprint_note
from geoapp.data.image_upload import read_image_upload
from geoapp.errors import InputError
from geoapp.training.location_trainer import LocationTrainConfig, block_test_locations, split_locations
from geoapp.viz.geolocation_map import legend_text

__all__ = [
    "GeolocationInput",
    "UPLOAD_LIMIT_MB",
    "UPLOAD_PROMPT",
    "UPLOAD_TYPES",
    "held_out_input",
    "map_caption",
    "upload_input",
]

UPLOAD_LIMIT_MB = 5
"""Largest upload, in MB: the widget's limit, the label's and the check's (.streamlit/config.toml agrees)."""

_UPLOAD_LIMIT_BYTES = UPLOAD_LIMIT_MB * 1024 * 1024  # Streamlit's MB (server.maxUploadSize) is 2**20 bytes

UPLOAD_TYPES = ["png", "jpg", "jpeg", "tif", "tiff"]

UPLOAD_PROMPT = (
    f"Upload an image to geolocate it: a PNG, JPEG or GeoTIFF of at most {UPLOAD_LIMIT_MB} MB, north up, ideally "
    "100-1,600 km across. A larger file is refused by the uploader itself (a red note beside its name) and never "
    "reaches geoapp."
)
"""What the page shows while the uploader holds no file it accepted."""

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
    """Short: the uploaded file's name, or the held-out patch's kind (the download's file name uses it)."""
    index: int | None = None
    """The held-out location's index in its set; None for an upload."""

    @property
    def title(self) -> str:
        """The input in words, for captions: a held-out patch's index and true place, or the file (and a GeoTIFF's centre)."""
        if self.truth is None:
            return self.label
        place = f"true place {self.truth[0]:.2f}, {self.truth[1]:.2f}"
        if self.index is not None:
            return f"Held-out patch {self.index} · {place} · {self.label}"
        return f"{self.label} · {place} (from the GeoTIFF)"


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
    last = len(points) - 1
    # No min_value/max_value: Streamlit's widget would refuse a number outside them in the browser (a red
    # field) without rerunning the page, leaving the previous patch's results on screen as if they were
    # this one's. The page checks the range instead and shows nothing but the error.
    idx = int(st.number_input(f"Held-out location (0-{last})", value=0, step=1, key="geo_idx"))
    rgb_only = True
    if model.config.relief:
        rgb_only = st.toggle("RGB only (as an uploaded image)", value=True, key="geo_rgb_only")
    if not 0 <= idx <= last:
        raise InputError(
            f"there is no held-out location {idx}: this set has {len(points):,} locations, numbered 0-{last}. "
            "Choose one in that range; nothing is shown until then."
        )
    truth = (float(points[idx, 0]), float(points[idx, 1]))
    image = model.patch(*truth, rgb_only=rgb_only)
    kind = "RGB only" if rgb_only else "RGB + shaded relief"
    label = f"Blue Marble, {model.config.footprint_km:,.0f} km, {kind}"
    return GeolocationInput(image, model.config.footprint_km, truth, label=label, index=idx)


def map_caption(given: GeolocationInput, k: int) -> str:
    """What the map of ``k`` predictions shows: the input (:attr:`GeolocationInput.title`) and its markers."""
    return f"{given.title}. On the map: {legend_text(k, given.truth is not None)}."


def _size_text(n: int) -> str:
    """A file size in Streamlit's units (KB = 1024 bytes, MB = 1024 KB), e.g. ``"7.7 MB"``."""
    if n < 1024:
        return f"{n} bytes"
    if n < 2**20:
        return f"{n / 1024:.0f} KB"
    return f"{n / 2**20:.1f} MB"


def _upload_name(name: str) -> str:
    """A file name as inline code in a message (backticks in it would end the code span)."""
    return "`" + name.replace("`", "'") + "`"


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
    name = _upload_name(upload.name)
    if upload.size > _UPLOAD_LIMIT_BYTES:  # the uploader refuses these; this is the check if one gets through
        raise InputError(
            f"{name} is {_size_text(upload.size)}: files can be at most {UPLOAD_LIMIT_MB} MB. "
            "Resize or recompress the image and upload it again."
        )
    st.caption(
        f"Using {name} ({_size_text(upload.size)}). A file over {UPLOAD_LIMIT_MB} MB is refused by the uploader "
        f"itself (a red note beside its name) and never reaches geoapp, so everything below stays about {name}."
    )
    try:
        image = read_image_upload(upload.getvalue(), max_bytes=_UPLOAD_LIMIT_BYTES)
    except InputError as exc:
        raise InputError(f"{name} cannot be geolocated: {exc}") from exc
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
