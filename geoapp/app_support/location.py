"""Cached pieces of the location pages: encoders, galleries, raster indexes, the basemap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from geoapp.analysis.location import (
    DEFAULT_LOCATION_CHECKPOINT,
    LoadedLocationModel,
    checkpoint_stamp,
    gallery_embeddings,
    require_model,
)
from geoapp.app_support.broken import Broken, show_broken
from geoapp.app_support.checkpoints import location_checkpoints_found
from geoapp.data.galleries import Gallery, load_gallery
from geoapp.data.imagery import blue_marble
from geoapp.models.location.geoclip import GeoCLIPLocationEncoder, load_geoclip_encoder
from geoapp.paths import checkpoint_dir
from geoapp.viz.exports import (
    geolocation_csv,
    geolocation_file_name,
    similarity_csv,
    similarity_file_stem,
    similarity_geotiff,
)
from geoapp.viz.similarity_map import RasterIndex, mercator_basemap_jpeg, png_data_url, stored_raster_index

__all__ = [
    "ENCODERS",
    "encoder_choices",
    "encoder_short_name",
    "show_broken_encoders",
    "GALLERIES",
    "PRESETS",
    "FIELD_CUTOFF_KM",
    "cached_encoder",
    "cached_gallery",
    "cached_raster_index",
    "cached_basemap_url",
    "warm_gallery",
    "CLICKED",
    "take_map_click",
    "reference_preset_select",
    "similarity_downloads",
    "geolocation_download",
]

ENCODERS = {
    "ours": "Ours: spherical harmonics + SIREN, trained on Blue Marble",
    "geoclip": "GeoCLIP (pretrained on photos)",
}
GALLERIES = {"land": "100K land points (near-uniform)", "geoclip": "GeoCLIP's 100K GPS gallery"}
PRESETS = {
    "Hong Kong": (22.32, 114.17),
    "Qinghai-Tibet Plateau": (33.5, 88.5),
    "Congo Basin": (-1.0, 22.0),
}
"""The poster's reference places, (lat, lon) degrees."""
FIELD_CUTOFF_KM = {"land": 130.0, "geoclip": 60.0}
"""Per gallery: how far from its nearest gallery point a map pixel or grid cell still shows the field, km."""


@st.cache_data(ttl=10, show_spinner=False)
def encoder_choices(include_geoclip: bool = True) -> dict[str, str]:
    """Encoders a page offers, by choice key and label.

    The shipped one (``ours``), every other contrastive checkpoint found (``ckpt:<folder>``, e.g.
    trained from the Training page), and GeoCLIP's pretrained encoder. Checkpoints whose card cannot
    be read are left out (:func:`show_broken_encoders` lists them).
    """
    choices = {"ours": ENCODERS["ours"]}
    for folder, card in location_checkpoints_found()[0]:
        if folder == checkpoint_dir() / DEFAULT_LOCATION_CHECKPOINT:
            continue  # the shipped model is ``ours``
        metrics = card.get("metrics")
        acc = metrics.get("val_acc_2500km") if isinstance(metrics, dict) else None
        label = f"Trained: {folder.parent.name if folder.name == 'best' else folder.name} (epoch {card.get('epoch')}"
        choices[f"ckpt:{folder}"] = label + (f", {acc:.0%} within 2,500 km)" if isinstance(acc, float) else ")")
    if include_geoclip:
        choices["geoclip"] = ENCODERS["geoclip"]
    return choices


def encoder_short_name(name: str) -> str:
    """An encoder choice key (:func:`encoder_choices`) as a short name for files: ``ours``, ``geoclip`` or the run folder."""
    if not name.startswith("ckpt:"):
        return name
    folder = Path(name.removeprefix("ckpt:"))
    return folder.parent.name if folder.name in ("best", "last") else folder.name


def show_broken_encoders() -> list[Broken]:
    """List the checkpoints whose card cannot be read (in a sidebar expander); returns them."""
    broken = location_checkpoints_found()[1]
    show_broken(broken, where=st.sidebar, hint="The other encoders stay on offer; fix or remove these folders.")
    return broken


def cached_encoder(name: str) -> LoadedLocationModel | GeoCLIPLocationEncoder:
    """By choice key (:func:`encoder_choices`): the shipped model, a checkpoint, or GeoCLIP's encoder.

    Cached while the checkpoint's files are unchanged (:func:`~geoapp.analysis.location.checkpoint_stamp`):
    a checkpoint a training run rewrites is loaded again.
    """
    folder = name.removeprefix("ckpt:") if name.startswith("ckpt:") else None
    return _cached_encoder(name, () if name == "geoclip" else checkpoint_stamp(folder))


@st.cache_resource(show_spinner="Loading the location encoder…")
def _cached_encoder(name: str, stamp: tuple[int, ...]) -> LoadedLocationModel | GeoCLIPLocationEncoder:
    """:func:`cached_encoder`, cached by choice key and checkpoint stamp (``stamp`` is only a key)."""
    if name == "geoclip":
        return load_geoclip_encoder()
    return require_model(name.removeprefix("ckpt:") if name.startswith("ckpt:") else None)


@st.cache_resource(show_spinner="Loading the gallery…")
def cached_gallery(name: str) -> Gallery:
    """A 100K-point gallery by name (``land`` or ``geoclip``)."""
    return load_gallery(name)


@st.cache_resource(show_spinner="Indexing the gallery for the map…")
def cached_raster_index(name: str) -> RasterIndex:
    """Nearest-gallery-point index of the Web-Mercator raster the map overlays (kept on disk once built)."""
    gallery = cached_gallery(name)
    return stored_raster_index(gallery.coords, gallery.name, gallery.digest, width=720, max_km=FIELD_CUTOFF_KM[name])


@st.cache_resource(show_spinner=False)
def cached_basemap_url() -> str:
    """Blue Marble in Web Mercator as a JPEG data URL (the offline basemap)."""
    return png_data_url(mercator_basemap_jpeg(blue_marble(), width=720), mime="image/jpeg")


def warm_gallery(encoder_name: str, gallery_name: str) -> None:
    """Compute (or load) the gallery embeddings with a spinner, so the first click is not the slow one."""
    with st.spinner("Embedding the 100K gallery (once per encoder; cached on disk)…"):
        gallery_embeddings(cached_encoder(encoder_name), cached_gallery(gallery_name))


CLICKED = "clicked"
"""The preset box's entry for a reference set by a click on the map."""


def take_map_click(key: str) -> tuple[float, float] | None:
    """A click on the similarity map ``key`` since the last run, as the new reference (lat, lon), or None.

    streamlit-folium's change callback stores the map's value in ``st.session_state[key]``; it is read
    before the map is drawn again and consumed, so each click counts once. The click becomes the
    reference (``sim_ref``, longitude wrapped into [-180, 180)) and the preset box shows it.
    """
    clicked = (st.session_state.get(key) or {}).get("last_clicked")
    if not clicked:
        return None
    st.session_state[key] = None
    ref = (float(clicked["lat"]), (float(clicked["lng"]) + 180.0) % 360.0 - 180.0)
    st.session_state["sim_ref"] = ref
    st.session_state["_sim_preset"] = CLICKED
    return ref


def _apply_preset() -> None:
    preset = st.session_state.get("sim_preset")
    st.session_state["_sim_preset"] = preset
    if preset in PRESETS:
        st.session_state["sim_ref"] = PRESETS[preset]


def reference_preset_select(container=st) -> str:
    """The reference preset box: the poster's places, or "clicked point (lat, lon)" after a click on the map.

    Its value is kept apart from the widget (``_sim_preset``) and seeded on every run, so it keeps
    naming the current reference when the user leaves the page and comes back. Picking a preset moves
    the reference there.
    """
    st.session_state["sim_preset"] = st.session_state.setdefault("_sim_preset", "Hong Kong")
    ref = st.session_state.get("sim_ref")

    def label(option: str) -> str:
        if option != CLICKED:
            return option
        return f"clicked point ({ref[0]:.2f}, {ref[1]:.2f})" if ref else "clicked point (click the map)"

    return container.selectbox(
        "Reference preset", [CLICKED, *PRESETS], format_func=label, key="sim_preset", on_change=_apply_preset
    )


def similarity_downloads(
    coords: np.ndarray, sims: np.ndarray, encoder_name: str, gallery_name: str, ref: tuple[float, float]
) -> None:
    """Download buttons for a similarity field: CSV of every gallery point, GeoTIFF on a 0.5-degree lat/lon grid.

    Args:
        coords: (N, 2) gallery (lat, lon) degrees.
        sims: (N,) cosine similarities to ``ref``.
        encoder_name: the encoder's choice key (:func:`encoder_choices`).
        gallery_name: the gallery's key (:data:`GALLERIES`).
        ref: the reference (lat, lon) degrees.

    The files are built when a button is clicked (no rerun); their names carry the encoder, gallery and reference.
    """
    stem = similarity_file_stem(encoder_short_name(encoder_name), gallery_name, ref)
    tags = {
        "quantity": "cosine similarity of location embeddings to the reference",
        "encoder": encoder_choices().get(encoder_name, encoder_name),
        "gallery": GALLERIES.get(gallery_name, gallery_name),
        "reference_lat": f"{ref[0]:.5f}",
        "reference_lon": f"{ref[1]:.5f}",
    }
    max_km = FIELD_CUTOFF_KM.get(gallery_name, 130.0)
    left, right = st.columns(2)
    left.download_button(
        "Similarity field (CSV: lat, lon, similarity)",
        lambda: similarity_csv(coords, sims),
        file_name=f"{stem}.csv",
        mime="text/csv",
        on_click="ignore",
        key="sim_csv",
    )
    right.download_button(
        "Similarity field (GeoTIFF, 0.5° lat/lon grid)",
        lambda: similarity_geotiff(coords, sims, max_km=max_km, tags=tags),
        file_name=f"{stem}.tif",
        mime="image/tiff",
        on_click="ignore",
        key="sim_tif",
        help=f"EPSG:4326; each cell takes its nearest gallery point's value, or nodata beyond {max_km:g} km.",
    )


def geolocation_download(
    predictions: list[tuple[float, float, float]], truth: tuple[float, float] | None, model_name: str, image_label: str
) -> None:
    """A download button for top-k geolocation results: CSV ``rank, lat, lon, score`` (+ ``error_km`` when known).

    Args:
        predictions: (lat, lon, score) per prediction, best first, degrees.
        truth: the image's true (lat, lon) in degrees, or None.
        model_name: the model's choice key (:func:`encoder_choices`).
        image_label: what the image is (a held-out patch's description or the uploaded file name).
    """
    st.download_button(
        "Top-k places (CSV)",
        geolocation_csv(predictions, truth),
        file_name=geolocation_file_name(encoder_short_name(model_name), image_label, len(predictions), truth),
        mime="text/csv",
        on_click="ignore",
        key="geo_csv",
    )
