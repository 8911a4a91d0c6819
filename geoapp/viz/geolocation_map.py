"""A world map of an image's predicted places (top-k) beside its true place."""

from __future__ import annotations

import folium

from geoapp.viz.maps import OfflineMap

__all__ = ["prediction_map", "dateline_segments"]


def prediction_map(
    predictions: list[tuple[float, float, float]],
    truth: tuple[float, float] | None = None,
    basemap_url: str | None = None,
    bounds: list[list[float]] | None = None,
    height: int = 460,
) -> OfflineMap:
    """Top-k predictions as numbered rings (the best one larger) and the true place.

    The true place is a filled dot with a line to the best prediction.

    Args:
        predictions: [(lat, lon, score)] best first.
        truth: (lat, lon) of the true place, if known.
        basemap_url: Web-Mercator world image (data URL) drawn under the markers.
        bounds: the basemap's [[south, west], [north, east]].
        height: map height in pixels.
    """
    m = OfflineMap(location=(20.0, 0.0), zoom_start=1, tiles=None, height=height, min_zoom=1)
    if basemap_url and bounds:
        folium.raster_layers.ImageOverlay(basemap_url, bounds=bounds, opacity=1.0, name="basemap").add_to(m)
    for rank, (lat, lon, score) in reversed(list(enumerate(predictions, start=1))):
        folium.CircleMarker(
            (lat, lon),
            radius=11 if rank == 1 else 7,
            color="#ffeb3b" if rank == 1 else "#ff9800",
            weight=3,
            fill=False,
            tooltip=f"#{rank}: {lat:.2f}, {lon:.2f} (score {score:.3f})",
        ).add_to(m)
    if truth is not None:
        folium.CircleMarker(
            truth,
            radius=6,
            color="#ffffff",
            weight=2,
            fill=True,
            fill_color="#e53935",
            fill_opacity=1.0,
            tooltip=f"true place: {truth[0]:.2f}, {truth[1]:.2f}",
        ).add_to(m)
        if predictions:
            line = dateline_segments(truth, predictions[0][:2])
            folium.PolyLine(line, color="#ffffff", weight=2, dash_array="6").add_to(m)
    points = [p[:2] for p in predictions] + ([truth] if truth else [])
    if points:
        lats, lons = [p[0] for p in points], [p[1] for p in points]
        pad = 8.0
        m.fit_bounds(
            [[max(min(lats) - pad, -80), max(min(lons) - pad, -180)], [min(max(lats) + pad, 80), min(max(lons) + pad, 180)]]
        )
    return m


def dateline_segments(a: tuple[float, float], b: tuple[float, float]) -> list[list[tuple[float, float]]]:
    """The shorter way from ``a`` to ``b`` ((lat, lon) degrees) as line segments on a map of one world.

    Points more than 180 degrees of longitude apart are nearer across the antimeridian: the line is cut
    where it crosses +-180 (latitude interpolated linearly in longitude), so that it does not run the
    width of the map. Returns one segment, or two.
    """
    (lat1, lon1), (lat2, lon2) = (float(a[0]), float(a[1])), (float(b[0]), float(b[1]))
    if abs(lon2 - lon1) <= 180.0:
        return [[(lat1, lon1), (lat2, lon2)]]
    unwrapped = lon2 + (360.0 if lon2 < lon1 else -360.0)  # b's longitude on a's side of the antimeridian
    edge = 180.0 if unwrapped > lon1 else -180.0
    lat = lat1 + (edge - lon1) / (unwrapped - lon1) * (lat2 - lat1)
    return [[(lat1, lon1), (lat, edge)], [(lat, -edge), (lat2, lon2)]]
