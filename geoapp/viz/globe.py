"""A 3-D globe of a per-point field (e.g. cosine similarity over a 100K gallery) as a pydeck deck.

deck.gl's ``_GlobeView`` (bundled with Streamlit's front end; ``st.pydeck_chart``) draws, from back
to front (later layers win coplanar depth ties through deck.gl's default polygon offset):

1. ``ocean``: the sphere itself, as dark lat/lon quads (so far-side points are hidden and the land
   field has a backdrop), slightly inside the surface;
2. ``field``: one disc per point, coloured by a :class:`~geoapp.viz.colors.ColorScale`;
3. ``coastlines`` and ``borders``: offline outlines (:mod:`geoapp.viz.world_outlines`);
4. ``reference``: the reference point, a white disc ringed in black, lifted above the surface.

Nothing is fetched: no base map (``map_provider=None``, ``map_style=None``; Streamlit adds its Carto
base map only to a ``MapView``), no text layer (deck.gl would build a font atlas), no icons.

Payload: every point is sent with its colour, ``{"c":[r,g,b],"p":[lon,lat]}`` with positions
rounded to 0.01 degrees (about 1 km), in compact JSON (:class:`CompactDeck`); 100,000 points and
the outlines come to about 4 MB.
"""

from __future__ import annotations

import json

import numpy as np
import pydeck as pdk
from plotly.colors import sample_colorscale
from pydeck.bindings.json_tools import default_serialize

from geoapp.data.geodesy import as_latlon
from geoapp.errors import InputError
from geoapp.viz.colors import ColorScale
from geoapp.viz.world_outlines import coastlines, country_borders

__all__ = ["CompactDeck", "field_colors", "similarity_globe", "GLOBE_LAYERS"]

GLOBE_LAYERS = ("ocean", "field", "coastlines", "borders", "reference")
"""Layer ids of :func:`similarity_globe`, back to front."""

OCEAN_RGB = [16, 38, 66]
OUTLINE_RGB = [235, 235, 235]
_OCEAN_CELL_DEG = 10.0
_MAX_STEP_DEG = 1.0  # outline segments are straight chords on the globe: longer ones are split
_REFERENCE_ALTITUDE_M = 30_000.0


class CompactDeck(pdk.Deck):
    """A :class:`pydeck.Deck` whose JSON has no indentation.

    pydeck writes its JSON with ``indent=2`` (one number per line): for 100,000 points that is
    about three times the bytes Streamlit then sends to the browser. Same content, same keys.
    """

    def to_json(self) -> str:
        """The deck as compact JSON (what ``st.pydeck_chart`` sends)."""
        return json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"))


def field_colors(values: np.ndarray, scale: ColorScale) -> np.ndarray:
    """(N, 3) uint8 RGB of (N,) ``values`` on ``scale`` (256 steps, ends clipped; NaN gets the low end).

    The same lookup as the flat map's image overlay (:func:`geoapp.viz.similarity_map.field_png`).
    """
    lut = np.array(
        [[int(c) for c in s[4:-1].split(",")] for s in sample_colorscale(scale.name, np.linspace(0, 1, 256).tolist())],
        dtype=np.uint8,
    )
    v = np.asarray(values, dtype=np.float64)
    span = scale.vmax - scale.vmin if scale.vmax > scale.vmin else 1.0
    t = np.nan_to_num(np.clip((v - scale.vmin) / span, 0.0, 1.0), nan=0.0)
    return lut[(t * 255).astype(np.int64)]


def _densify(path: np.ndarray, max_step: float = _MAX_STEP_DEG) -> np.ndarray:
    """(K, 2) lon/lat with vertices added so no step exceeds ``max_step`` degrees (antimeridian steps kept)."""
    steps = np.abs(np.diff(path, axis=0)).max(axis=1)
    steps[steps > 180.0] = 0.0  # a jump across the antimeridian is a short chord on the globe
    parts = [path[:1]]
    for a, b, step in zip(path[:-1], path[1:], steps, strict=True):
        n = max(int(np.ceil(step / max_step)), 1)
        parts.append(a + (b - a) * (np.arange(1, n + 1)[:, None] / n))
    return np.concatenate(parts)


def _paths_data(paths: tuple[np.ndarray, ...]) -> list[dict]:
    return [{"p": np.round(_densify(p), 2).tolist()} for p in paths]


def _ocean_data(cell: float = _OCEAN_CELL_DEG) -> list[dict]:
    """Lat/lon quads covering the sphere, each edge split so it bends with the globe."""
    out = []
    for lat in np.arange(-90.0, 90.0, cell):
        for lon in np.arange(-180.0, 180.0, cell):
            edge = np.linspace(0.0, cell, 3)
            ring = (
                [[lon + d, lat] for d in edge[:-1]]
                + [[lon + cell, lat + d] for d in edge[:-1]]
                + [[lon + cell - d, lat + cell] for d in edge[:-1]]
                + [[lon, lat + cell - d] for d in edge[:-1]]
            )
            out.append({"p": ring})
    return out


def _check_field(latlon: object, values: object) -> tuple[np.ndarray, np.ndarray]:
    pts = as_latlon(latlon)
    v = np.asarray(values, dtype=np.float64) if not isinstance(values, str | bytes) else np.asarray([])
    if v.ndim != 1 or len(v) != len(pts):
        raise InputError(f"values must be one number per point: {len(pts)} points, got shape {np.shape(values)}")
    if len(pts) == 0:
        raise InputError("a globe needs at least one point; got none")
    return pts, v


def similarity_globe(
    latlon: np.ndarray,
    values: np.ndarray,
    scale: ColorScale,
    reference: tuple[float, float],
    radius_km: float = 22.0,
    zoom: float = 1.1,
) -> CompactDeck:
    """A spinnable globe of ``values`` at ``latlon``, centred on and marking ``reference``.

    Args:
        latlon: (N, 2) points, (lat, lon) degrees (EPSG:4326), e.g. a 100K gallery.
        values: (N,) field values, coloured with ``scale`` (e.g. the flat map's Turbo scale).
        scale: the colour scale (its ends clip).
        reference: (lat, lon) degrees of the reference point; the view opens over it.
        radius_km: disc radius of each point (100K land points lie about 40 km apart); at least 1 px.
        zoom: initial zoom (1.1: the whole globe, about 350 px across).

    Returns:
        A deck with a ``_GlobeView`` (drag to spin, scroll to zoom), no base map, layers :data:`GLOBE_LAYERS`.

    Raises:
        InputError: ``latlon`` is not (N, 2) finite degrees, ``values`` not (N,), no points, or a bad ``reference``.
    """
    pts, v = _check_field(latlon, values)
    ref = as_latlon([reference])[0]
    rgb = field_colors(v, scale)
    lonlat = np.round(pts[:, ::-1], 2).tolist()
    field = [{"p": p, "c": c} for p, c in zip(lonlat, rgb.tolist(), strict=True)]
    layers = [
        pdk.Layer("SolidPolygonLayer", _ocean_data(), id="ocean", get_polygon="p", get_fill_color=OCEAN_RGB),
        pdk.Layer(
            "ScatterplotLayer",
            field,
            id="field",
            get_position="p",
            get_fill_color="c",
            get_radius=radius_km * 1000.0,  # metres (the default units; pydeck would read a string as an accessor)
            radius_min_pixels=1,
        ),
        pdk.Layer(
            "PathLayer", _paths_data(coastlines("c")), id="coastlines", get_path="p", get_color=OUTLINE_RGB, width_min_pixels=1
        ),
        pdk.Layer(
            "PathLayer",
            _paths_data(country_borders("c")),
            id="borders",
            get_path="p",
            get_color=OUTLINE_RGB + [150],
            width_min_pixels=1,
        ),
        pdk.Layer(
            "ScatterplotLayer",
            [{"p": [float(ref[1]), float(ref[0]), _REFERENCE_ALTITUDE_M]}],
            id="reference",
            get_position="p",
            get_fill_color=[255, 255, 255],
            get_line_color=[0, 0, 0],
            stroked=True,
            get_radius=150_000,
            radius_min_pixels=6,
            line_width_min_pixels=2,
        ),
    ]
    return CompactDeck(
        layers=layers,
        views=[pdk.View(type="_GlobeView", controller=True)],
        initial_view_state=pdk.ViewState(latitude=float(ref[0]), longitude=float(ref[1]), zoom=zoom),
        map_provider=None,
        map_style=None,
    )
