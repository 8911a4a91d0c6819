"""A simulated Corn Belt: the embedded default dataset (documented in ``docs/simulated-data.md``).

No real county yields or gridded climate can be had offline, so geoapp ships a generating process on
the real county polygons of the 13 study states, 2003-2018. It is deterministic from a seed and built
so that the learning problem resembles the real one:

1. **Static world** (:func:`_static_world`): terrain rising westward with bumps for the Ozarks and the
   Appalachian plateau; soil sand/silt/clay from multi-scale fields through a softmax (fractions sum
   to 1) with a loess belt, sandhills and clay plains; a cropland fraction that is high in the core Corn
   Belt and low in the northern forests, the western range and rough terrain.
2. **Climate normals** (:func:`_climate_normals`): precipitation falling westward with a May-June peak;
   daytime land surface temperature falling northward with a July peak; night-time temperature below it
   by a diurnal range that widens in the dry west.
3. **Weather of each year** (:func:`_simulate_year`): large-scale and local anomaly fields per month,
   plus scripted years: a drought-and-heat summer in 2012 and a benign, record-high season in 2016.
   Dry months are hot by day (land-surface feedback).
4. **Crop response per pixel**: potential yield from soil and terrain, times exp(-stress), where water
   stress (a lagged water balance buffered by soil water capacity) and heat stress concentrate in the
   critical months July and August, with sensitivities that vary by region (irrigated Platte valley,
   drier west); plus a technology trend, a county management effect and pixel noise. Vegetation
   indices follow the crop's green-up and the stress accumulated so far, diluted by non-crop land
   and by occasional cloud contamination.
5. **County yields**: the cropland-weighted mean of pixel yields inside each county polygon, plus a
   county-year noise term (the known noise floor). Counties with little cropland are withheld, as NASS
   withholds them, leaving about 850 labelled counties a year.

The true drivers (month weights of each stress, each term's share of yield variance, the noise floor)
are returned in :attr:`SimulatedDataset.truth` and saved with the dataset.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from geoapp.data.args import as_bool, as_int, as_number, as_text, given
from geoapp.data.bands import MONTHS
from geoapp.data.cube import empty_cube
from geoapp.data.cube_store import CubeWriter
from geoapp.data.fields import random_fields
from geoapp.data.grid import Grid
from geoapp.data.parallel import local_threads, probe_scheduler, run_tasks
from geoapp.errors import InputError

if TYPE_CHECKING:  # geopandas and rasterio load only where counties are rasterised (a lean training node)
    import geopandas as gpd

__all__ = [
    "SimulationConfig",
    "SIMULATION_CONFIGS",
    "SimulatedDataset",
    "SimulationTables",
    "simulate",
    "write_simulation",
    "years_in_flight",
    "county_raster",
    "cropland_weights",
    "county_terms",
    "TERM_COLUMNS",
]

T = len(MONTHS)
_ACRES_PER_KM2 = 247.105


YEAR_RANGE = (1900, 2100)
"""The calendar years a simulation may cover (those a dataset card accepts)."""


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that defines a simulated dataset; same config and seed give the same data."""

    name: str = "demo"
    resolution_m: float = 4000.0  # pixel size of the EPSG:5070 grid, metres
    tile_px: int = 16  # anchor tile size in pixels (16 x 4 km = 64 km, about one county)
    first_year: int = 2003
    last_year: int = 2018
    seed: int = 2003
    states: tuple[str, ...] | None = None  # None: the 13 default states
    drought_year: int = 2012  # scripted drought-and-heat summer
    record_year: int = 2016  # scripted benign season, record yields
    trend_bu_per_year: float = 0.45  # technology trend, bu/acre per year
    base_year: int = 2010  # year where the trend term is zero
    county_noise_bu: float = 3.0  # sd of the county-year noise: the floor no model can beat, bu/acre
    pixel_noise_bu: float = 4.0  # sd of independent pixel noise before aggregation, bu/acre
    county_effect_bu: float = 2.0  # sd of the persistent county management effect, bu/acre
    labelled_per_year: int = 850  # about this many counties carry a label each year
    water_stress_scale: float = 1.0  # multiplies the water-stress exponent
    heat_stress_scale: float = 1.0  # multiplies the heat-stress exponent

    def __post_init__(self) -> None:
        as_text(self.name, "name")
        as_number(self.resolution_m, "resolution_m", "metres")
        for name in ("first_year", "last_year", "drought_year", "record_year", "base_year"):
            year = as_int(getattr(self, name), name)
            if not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
                raise InputError(f"{name} must be a year in {YEAR_RANGE[0]}..{YEAR_RANGE[1]}, got {year}")
        if self.first_year > self.last_year:
            raise InputError(f"first_year {self.first_year} is after last_year {self.last_year}")
        if as_int(self.tile_px, "tile_px") < 4:
            raise InputError(f"tile_px must be at least 4 pixels, got {self.tile_px}")
        as_int(self.seed, "seed", minimum=0)
        as_int(self.labelled_per_year, "labelled_per_year", minimum=0)
        if self.states is not None and (
            not isinstance(self.states, tuple) or not self.states or not all(isinstance(s, str) for s in self.states)
        ):
            raise InputError(
                f"states must be a tuple of two-letter postal codes such as ('IA', 'IL'), or None for the default "
                f"states, got {given(self.states)}"
            )
        trend = self.trend_bu_per_year
        if isinstance(trend, bool) or not isinstance(trend, int | float) or not math.isfinite(trend):
            raise InputError(f"trend_bu_per_year must be a finite number of bu/acre per year, got {given(trend)}")
        for name in ("county_noise_bu", "pixel_noise_bu", "county_effect_bu"):
            as_number(getattr(self, name), name, "bu/acre", zero_ok=True)
        for name in ("water_stress_scale", "heat_stress_scale"):
            as_number(getattr(self, name), name, "times the default", zero_ok=True)

    @property
    def years(self) -> list[int]:
        """Calendar years simulated."""
        return list(range(self.first_year, self.last_year + 1))


SIMULATION_CONFIGS: dict[str, SimulationConfig] = {
    "demo": SimulationConfig(),
    "paper": SimulationConfig(name="paper", resolution_m=1000.0, tile_px=50),
}
"""Named configurations: ``demo`` (4 km, 16 px tiles, CPU) and ``paper`` (1 km, 50 px tiles, GPU)."""

# Month weights of each stress (March..September); each sums to 1. Soybean is most sensitive to
# water during pod set and seed fill (July-August) and to heat at flowering (July).
WATER_WEIGHTS = np.array([0.0, 0.0, 0.04, 0.12, 0.36, 0.42, 0.06])
HEAT_WEIGHTS = np.array([0.0, 0.0, 0.0, 0.15, 0.50, 0.30, 0.05])
GREEN_UP = np.array([0.0, 0.03, 0.15, 0.55, 0.95, 1.0, 0.65])  # crop canopy fraction by month
PPT_SHARE = np.array([0.075, 0.095, 0.125, 0.130, 0.110, 0.100, 0.085])  # share of annual ppt
HEAT_THRESHOLD_C = 33.0  # daytime LST above which heat stress accrues, degC


@dataclass
class SimulatedDataset:
    """What :func:`simulate` returns.

    Attributes:
        cube: the input cube (see :mod:`geoapp.data.cube`), float32, simulated=1.
        counties: one row per county: geoid, name, state, n_pixels, cropland_km2, anchor_row,
            anchor_col (crop centre on the grid), anchor_lat, anchor_lon.
        yields: one row per (geoid, year): ``yield`` (bu/acre, NaN when withheld), ``expected``
            (the noise-free yield), ``labelled`` (bool).
        truth: the true drivers (JSON-serialisable dict).
        config: the configuration used.
    """

    cube: xr.Dataset
    counties: pd.DataFrame
    yields: pd.DataFrame
    truth: dict
    config: SimulationConfig = field(default_factory=SimulationConfig)


# ---------------------------------------------------------------------------------------------
# helpers
def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def _bump(lon: np.ndarray, lat: np.ndarray, lon0: float, lat0: float, radius_deg: float) -> np.ndarray:
    """A Gaussian bump of height 1 centred at (lon0, lat0) with the given radius in degrees."""
    d2 = ((lon - lon0) * math.cos(math.radians(lat0))) ** 2 + (lat - lat0) ** 2
    return np.exp(-d2 / (2 * radius_deg**2))


def _streams(seed: int, name: str, *extra: int) -> np.random.Generator:
    """An independent generator per named stream, so adding one stream never shifts another."""
    key = [int(seed), *[ord(c) for c in name], *[int(e) for e in extra]]
    return np.random.default_rng(np.random.SeedSequence(key))


def county_raster(counties: gpd.GeoDataFrame, grid: Grid) -> np.ndarray:
    """Index of the county (row of ``counties``) covering each pixel centre, -1 outside; (H, W) int32.

    Raises:
        InputError: ``counties`` is not a GeoDataFrame with a CRS, or ``grid`` not a :class:`Grid`.
    """
    import geopandas as gpd
    from rasterio.features import rasterize

    if not isinstance(counties, gpd.GeoDataFrame) or counties.crs is None:
        raise InputError(f"counties must be a GeoDataFrame with a CRS (e.g. from load_counties), got {given(counties)}")
    if not isinstance(grid, Grid):
        raise InputError(f"grid must be a geoapp.data.grid.Grid, got {given(grid)}")
    geoms = counties.geometry.to_crs(grid.crs)
    shapes = ((g, i) for i, g in enumerate(geoms) if g is not None and not g.is_empty)
    return rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=-1, dtype="int32")


# ---------------------------------------------------------------------------------------------
# 1. static world
def _static_world(grid: Grid, lon: np.ndarray, lat: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Terrain, soil, cropland and the hidden crop parameters; each array (H, W) float32."""
    rng = _streams(seed, "static")
    x, y = grid.x, grid.y

    def grf(length_km: float, n: int = 1, waves: int = 96) -> np.ndarray:
        return random_fields(x, y, length_km, n, rng, n_waves=waves)

    # Terrain (m): the Great Plains rise westward; Ozarks and Appalachian plateau; rolling relief.
    plains = 180.0 + 1150.0 * _sigmoid((-99.5 - lon) / 2.2)
    highlands = 260.0 * _bump(lon, lat, -92.4, 37.0, 1.0) + 420.0 * _bump(lon, lat, -83.2, 37.4, 0.9)
    relief = 90.0 * grf(180)[0] + 35.0 * grf(40)[0] + 12.0 * grf(10)[0]
    elevation = np.maximum(plains + highlands + relief, 90.0)

    # Soil texture: softmax of three latent fields (fractions sum to 1).
    loess = _bump(lon, lat, -91.0, 40.5, 3.2)  # silty loess belt along the big rivers
    sandhills = _bump(lon, lat, -101.0, 42.2, 1.4) + 0.7 * _bump(lon, lat, -89.8, 44.6, 1.2)
    clay_plains = _bump(lon, lat, -96.9, 47.6, 1.3) + 0.8 * _bump(lon, lat, -84.0, 41.3, 0.8)
    logits = np.stack(
        [
            -0.2 + 1.6 * sandhills + 0.45 * grf(220)[0] + 0.30 * grf(35)[0],  # sand
            0.55 + 0.9 * loess + 0.40 * grf(220)[0] + 0.25 * grf(35)[0],  # silt
            0.0 + 1.3 * clay_plains + 0.35 * grf(220)[0] + 0.25 * grf(35)[0],  # clay
        ]
    )
    soil = np.exp(logits - logits.max(axis=0))
    soil /= soil.sum(axis=0)
    sand, silt, clay = soil

    # Cropland fraction: core belt high; northern forests, western range, rough and sandy land low.
    forest = _sigmoid((lat - 45.3) / 0.5) * _sigmoid((lon + 95.0) / 0.6)
    range_land = _sigmoid((-100.2 - lon) / 0.9)
    rough = _relu(elevation - plains - 60.0) / 120.0
    crop_logit = (
        2.3 - 3.6 * forest - 2.6 * range_land - 1.6 * rough - 6.0 * _relu(sand - 0.42)
        - 1.2 * _bump(lon, lat, -83.5, 37.6, 1.2)
        + 0.9 * grf(90)[0] + 0.7 * grf(15)[0]
    )  # fmt: skip
    cropland = _sigmoid(crop_logit - 0.3)

    # Hidden crop parameters (not in the cube): soil water capacity, yield potential, sensitivities.
    awc = np.clip(0.35 + 0.9 * silt + 0.3 * clay - 0.9 * sand, 0.05, 1.0)  # available water capacity, 0..1
    potential = 56.0 + 16.0 * (silt - 0.42) - 22.0 * _relu(sand - 0.35) - 14.0 * _relu(clay - 0.40)
    potential -= 0.004 * _relu(elevation - 450.0)
    irrigated = 0.8 * _bump(lon, lat, -98.6, 40.8, 1.1)  # Platte valley irrigation shields water stress
    water_sens = (1.0 + 0.35 * np.tanh((-lon - 95.0) / 4.0) + 0.25 * grf(260)[0]) * (1.0 - irrigated)
    # Heat hurts most on light soils (they dry and heat fastest): an interaction a linear model misses.
    heat_sens = 0.45 + 1.3 * _sigmoid((sand - 0.30) / 0.04) + 0.2 * grf(320)[0]
    management = grf(200)[0]  # smooth regional management effect, sd 1
    out = {
        "elevation": elevation, "sand": sand, "silt": silt, "clay": clay, "cropland": cropland,
        "awc": awc, "potential": potential, "water_sens": np.maximum(water_sens, 0.05),
        "heat_sens": np.maximum(heat_sens, 0.3), "management": management,
    }  # fmt: skip
    return {k: v.astype(np.float32) for k, v in out.items()}


# ---------------------------------------------------------------------------------------------
# 2. climate normals
def _climate_normals(lon: np.ndarray, lat: np.ndarray, elevation: np.ndarray) -> dict[str, np.ndarray]:
    """Monthly normals, each (T, H, W) float32: ``ppt`` (mm), ``lst_day`` and ``lst_night`` (degC)."""
    annual_ppt = 1150.0 - 38.0 * (-82.5 - lon).clip(min=0) - 12.0 * (lat - 40.0).clip(min=0)  # mm/yr
    annual_ppt = np.maximum(annual_ppt, 330.0)
    westness = np.clip((-lon - 90.0) / 12.0, 0.0, 1.0)
    share = PPT_SHARE[:, None, None] * (1.0 + 0.35 * westness[None] * (GREEN_UP[:, None, None] - 0.45))
    ppt = annual_ppt[None] * share
    base_day = np.array([9.0, 17.0, 24.5, 30.0, 33.0, 32.0, 27.0])[:, None, None]  # at 40N, 300 m
    lat_rate = np.array([1.3, 1.1, 0.9, 0.7, 0.6, 0.65, 0.8])[:, None, None]  # degC per degree north
    dry_bonus = 2.5 * westness[None]  # dry air, hotter surface
    lst_day = base_day - lat_rate * (lat - 40.0)[None] - 0.0055 * (elevation - 300.0)[None] + dry_bonus
    diurnal = (11.0 + 5.0 * westness)[None] * np.array([0.8, 0.9, 1.0, 1.0, 1.0, 1.0, 0.95])[:, None, None]
    lst_night = lst_day - diurnal
    return {k: v.astype(np.float32) for k, v in {"ppt": ppt, "lst_day": lst_day, "lst_night": lst_night}.items()}


def _scripted_anomalies(year: int, cfg: SimulationConfig, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-precipitation and temperature anomalies of scripted years, each (T, H, W)."""
    log_ppt = np.zeros((T, *lon.shape), np.float32)
    temp = np.zeros((T, *lon.shape), np.float32)
    if year == cfg.drought_year:  # 2012-like: dry, hot June-August, worst in the south and west
        core = 0.55 + 0.45 * _sigmoid((41.5 - lat) / 1.5)
        log_ppt += np.array([0.1, -0.2, -0.3, -0.7, -0.75, -0.4, 0.0])[:, None, None] * core[None]
        temp += np.array([2.5, 1.0, 1.0, 2.2, 2.8, 1.5, 0.5])[:, None, None] * core[None]
    if year == cfg.record_year:  # 2016-like: timely rain, mild summer everywhere
        log_ppt += np.array([0.0, 0.0, 0.05, 0.15, 0.3, 0.35, 0.1])[:, None, None]
        temp += np.array([0.0, 0.0, 0.0, -0.6, -1.8, -1.5, 0.0])[:, None, None]
    return log_ppt, temp


# ---------------------------------------------------------------------------------------------
# 3-4. one year: weather, crop response, vegetation indices
def _simulate_year(
    year: int,
    cfg: SimulationConfig,
    grid: Grid,
    lon: np.ndarray,
    lat: np.ndarray,
    world: dict[str, np.ndarray],
    normals: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Inputs (each (T, H, W)) and pixel yield terms (each (H, W)) of one year, float32.

    Intermediates are dropped as soon as they are used and the full-grid random draws are taken a
    month at a time (the same draws, in the same order), so a year of the 1 km grid needs about a
    third of the memory the plain expressions would.
    """
    rng = _streams(cfg.seed, "year", year)
    x, y = grid.x, grid.y
    shape = lon.shape
    f32 = np.float32

    # Weather: regional (400 km) anomalies, patchy convective rain (25 km, strongest in summer)
    # and a year-wide offset per month.
    regional = random_fields(x, y, 400.0, T, rng, n_waves=48)
    local = random_fields(x, y, 25.0, T, rng, n_waves=96)
    offset = rng.normal(0.0, 0.2, size=(T, 1, 1)).astype(np.float32)
    temp_regional = random_fields(x, y, 500.0, T, rng, n_waves=48)
    script_ppt, script_temp = _scripted_anomalies(year, cfg, lon, lat)
    convective = (0.25 + 0.35 * GREEN_UP)[:, None, None]
    log_anom = 0.35 * regional + convective * local + offset + script_ppt
    del regional, local, script_ppt
    ppt = normals["ppt"] * np.exp(log_anom - 0.5 * (0.35**2 + convective**2))
    temp_anom = 1.3 * temp_regional + rng.normal(0.0, 0.6, size=(T, 1, 1)) + script_temp
    del temp_regional, script_temp
    dry = np.clip(log_anom, -1.5, 1.0)
    del log_anom
    lst_day = normals["lst_day"] + temp_anom - 2.2 * dry  # dry ground heats up
    lst_night = (normals["lst_night"] + 0.7 * temp_anom - 0.4 * dry).astype(f32)
    del temp_anom, dry

    # Water balance: this month's rain plus what the soil kept from last month.
    prev = np.concatenate([normals["ppt"][:1] * 0.9, ppt[:-1]], axis=0)
    supply = 0.6 * ppt + 0.4 * prev * (0.5 + 0.5 * world["awc"])[None]
    del prev
    demand = 0.85 * normals["ppt"] * (1.0 + 0.06 * (lst_day - normals["lst_day"]))
    deficit = _relu(1.0 - supply / np.maximum(demand, 1.0))  # 0..1, per month
    del supply, demand
    buffer = 1.5 - world["awc"]  # sandy soils (low capacity) suffer more
    water_m = deficit**1.5 * buffer[None] * world["water_sens"][None]  # monthly water stress
    heat_m = _relu(lst_day - HEAT_THRESHOLD_C) ** 1.5 / 8.0 * world["heat_sens"][None]
    lst_day = lst_day.astype(f32)
    wet = ppt[2:4] / normals["ppt"][2:4]  # May-June excess rain delays planting
    excess = 0.12 * _relu(wet - 1.7).sum(axis=0)
    del wet
    ppt = ppt.astype(f32)

    water = cfg.water_stress_scale * 1.6 * np.tensordot(WATER_WEIGHTS, water_m, axes=1)
    heat = cfg.heat_stress_scale * 0.8 * np.tensordot(HEAT_WEIGHTS, heat_m, axes=1)
    trend = cfg.trend_bu_per_year * (year - cfg.base_year)
    yield_px = world["potential"] * np.exp(-(water + heat + excess)) + trend

    # Vegetation indices: green-up times crop health so far, diluted by non-crop land and clouds.
    # The canopy shows stress a month late, so August stress (seed fill) is barely visible.
    stress_m = 1.6 * water_m + 0.8 * heat_m
    del water_m, heat_m
    lagged = np.concatenate([np.zeros_like(stress_m[:1]), stress_m[:-1]], axis=0)
    del stress_m
    health = np.exp(-2.0 * np.cumsum(lagged, axis=0) / np.arange(1, T + 1)[:, None, None])
    del lagged
    crop = world["cropland"][None]
    canopy = GREEN_UP[:, None, None] * health
    del health
    natural = (
        (0.30 + 0.45 * np.array([0.2, 0.45, 0.8, 0.95, 1.0, 0.95, 0.8])[:, None, None])
        * (1.0 - 0.45 * np.clip((-lon - 98.0) / 5.0, 0.0, 1.0))[None]
        * np.exp(-0.3 * np.tensordot(np.ones(T) / T, deficit, axes=1))[None]
    )
    del deficit
    ndvi = crop * (0.22 + 0.68 * canopy / (canopy + 0.25) * 1.25) + (1.0 - crop) * natural
    evi = crop * (0.10 + 0.58 * canopy**1.1) + (1.0 - crop) * (0.55 * natural - 0.05)
    del canopy, natural
    # Residual cloud in the monthly composites: patches about 40 km across over ~10% of the area,
    # plus scattered cloudy pixels. Each full-grid draw is taken month by month (same values).
    patches = _sigmoid((random_fields(x, y, 40.0, T, rng, n_waves=64) - 1.3) / 0.15)
    cloudy = np.stack([rng.random(shape) < 0.05 for _ in range(T)])
    haze = np.empty((T, *shape), dtype=f32)
    for m in range(T):
        haze[m] = 0.3 * patches[m] + rng.uniform(0.1, 0.35, size=shape).astype(np.float32) * cloudy[m]
    del patches, cloudy
    ndvi32 = np.empty((T, *shape), dtype=f32)
    for m in range(T):
        ndvi32[m] = np.clip(ndvi[m] - haze[m] + rng.normal(0, 0.025, shape), -0.1, 0.95)
    del ndvi
    evi32 = np.empty((T, *shape), dtype=f32)
    for m in range(T):
        evi32[m] = np.clip(evi[m] - 0.8 * haze[m] + rng.normal(0, 0.025, shape), -0.1, 0.9)
    del evi, haze

    # Pixel noise and the structural terms kept for the truth table.
    pixel_noise = rng.normal(0.0, cfg.pixel_noise_bu, size=shape)
    out = {
        "ppt": ppt, "lst_day": lst_day, "lst_night": lst_night, "ndvi": ndvi32, "evi": evi32,
        "yield_px": yield_px + pixel_noise, "yield_px_expected": yield_px,
        "water": water, "heat": heat, "excess": excess,
    }  # fmt: skip
    return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}


# ---------------------------------------------------------------------------------------------
# 5. counties: anchors, labels, aggregation
def _county_table(
    counties: gpd.GeoDataFrame, index: np.ndarray, grid: Grid, cropland: np.ndarray, lon: np.ndarray, lat: np.ndarray
) -> pd.DataFrame:
    """Per-county pixel count, cropland area and crop-centre anchor pixel."""
    n = len(counties)
    flat = index.ravel()
    inside = flat >= 0
    ids = flat[inside]
    crop = cropland.ravel()[inside].astype(np.float64)
    rows, cols = np.divmod(np.flatnonzero(inside), grid.width)
    n_pix = np.bincount(ids, minlength=n)
    w = np.bincount(ids, weights=crop, minlength=n)
    r_bar = np.bincount(ids, weights=crop * rows, minlength=n) / np.maximum(w, 1e-9)
    c_bar = np.bincount(ids, weights=crop * cols, minlength=n) / np.maximum(w, 1e-9)
    # The anchor is the county pixel nearest the cropland-weighted centroid (stays inside the county).
    d2 = (rows - r_bar[ids]) ** 2 + (cols - c_bar[ids]) ** 2
    order = np.lexsort((d2, ids))
    first = np.searchsorted(ids[order], np.arange(n))
    anchor_row = np.full(n, -1)
    anchor_col = np.full(n, -1)
    has = n_pix > 0
    anchor_row[has] = rows[order][first[has]]
    anchor_col[has] = cols[order][first[has]]
    if not has.all():  # counties smaller than a pixel: nearest pixel to the polygon's centroid
        cent = counties.geometry[~has].to_crs(grid.crs).centroid
        r, c = grid.rowcol(cent.x.to_numpy(), cent.y.to_numpy())
        anchor_row[~has], anchor_col[~has] = r, c
    px_km2 = (grid.resolution_m / 1000.0) ** 2
    table = pd.DataFrame(
        {
            "geoid": counties["geoid"].to_numpy(),
            "name": counties["name"].to_numpy(),
            "state": counties["state"].to_numpy(),
            "n_pixels": n_pix,
            "cropland_km2": w * px_km2,
            "anchor_row": anchor_row,
            "anchor_col": anchor_col,
        }
    )
    table["anchor_lat"] = lat[anchor_row, anchor_col].astype(float)
    table["anchor_lon"] = lon[anchor_row, anchor_col].astype(float)
    return table


def _aggregate(index: np.ndarray, values: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """Weighted mean of ``values`` over the pixels of each county; NaN for counties with no weight."""
    flat = index.ravel()
    inside = flat >= 0
    w = weights.ravel()[inside].astype(np.float64)
    num = np.bincount(flat[inside], weights=w * values.ravel()[inside], minlength=n)
    den = np.bincount(flat[inside], weights=w, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


# ---------------------------------------------------------------------------------------------
# the whole simulation: a static world once, then one task per year
@dataclass
class _World:
    """Everything a year task needs, computed once: the grid, the static world and the county raster."""

    cfg: SimulationConfig
    grid: Grid
    lon: np.ndarray  # (H, W) float32, degrees
    lat: np.ndarray  # (H, W) float32, degrees
    index: np.ndarray  # (H, W) int32, county row or -1
    world: dict[str, np.ndarray]  # static fields, each (H, W) float32
    normals: dict[str, np.ndarray]  # climate normals, each (T, H, W) float32
    n_counties: int


@dataclass
class _Year:
    """What one simulated year hands back: its input bands and its county aggregates."""

    year: int
    bands: dict[str, np.ndarray]  # ppt, lst_day, lst_night, ndvi, evi: each (T, H, W) float32
    expected_px: np.ndarray  # (counties,) cropland-weighted noise-free pixel yield, bu/acre
    observed_px: np.ndarray  # (counties,) the same with pixel noise
    water_c: np.ndarray  # (counties,) water-stress exponent
    heat_c: np.ndarray  # (counties,) heat-stress exponent


@dataclass
class SimulationTables:
    """The tables of a simulation whose cube went straight to disk (:func:`write_simulation`)."""

    title: str
    counties: pd.DataFrame
    yields: pd.DataFrame
    truth: dict
    config: SimulationConfig


def _config(config: SimulationConfig | str) -> SimulationConfig:
    cfg = SIMULATION_CONFIGS[config] if isinstance(config, str) and config in SIMULATION_CONFIGS else config
    if not isinstance(cfg, SimulationConfig):
        raise InputError(
            f"unknown simulation config {given(config)}; expected one of {list(SIMULATION_CONFIGS)!r} or a SimulationConfig"
        )
    return cfg


def _title(cfg: SimulationConfig) -> str:
    return f"Simulated Corn Belt ({cfg.name}, {cfg.resolution_m / 1000:g} km)"


def _make_world(cfg: SimulationConfig) -> tuple[_World, pd.DataFrame]:
    """The static world of ``cfg`` and the county table (anchors at crop centres)."""
    from geoapp.data.counties import load_counties
    from geoapp.data.study_area import study_area_grid

    counties = load_counties(cfg.states)
    grid = study_area_grid(cfg.resolution_m, cfg.states)
    lon, lat = (a.astype(np.float32) for a in grid.lonlat())
    index = county_raster(counties, grid)
    world = _static_world(grid, lon, lat, cfg.seed)
    normals = _climate_normals(lon, lat, world["elevation"])
    table = _county_table(counties, index, grid, world["cropland"], lon, lat)
    return _World(cfg, grid, lon, lat, index, world, normals, len(table)), table


def cropland_weights(config: SimulationConfig | str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The weights a simulated county yield averages its pixels with: hidden truth, not in the cube.

    Returns:
        ``index`` (H, W) int32, the county (position in ``geoids``) of each pixel centre, -1 outside;
        ``cropland`` (H, W) float32, the cropland fraction of each pixel (0..1); ``geoids``, the
        county table's geoids. On the grid of the configuration (EPSG:5070).

    A diagnostic of what the anchor tiles miss (``bench difficulty``): the county yield is the
    cropland-weighted mean of its pixels, and a model that reads a square tile without a crop mask (the
    paper's inputs) sees neither weight.
    """
    w, table = _make_world(_config(config))
    return w.index, w.world["cropland"], table["geoid"].astype(str).tolist()


TERM_COLUMNS: tuple[str, ...] = ("potential", "water", "heat", "excess", "trend", "effect", "noise")
"""The columns of :func:`county_terms` that add up to a county's yield, in the order of the generating process."""


def county_terms(config: SimulationConfig | str, years: Sequence[int]) -> pd.DataFrame:
    """Each county's yield split into the simulation's terms, for the given years: hidden truth, not in the cube.

    Runs the generating process again for those years only (the static world once, then one year at a
    time; the demo configuration takes a few seconds a year), so the terms match a dataset built with
    the same configuration exactly.

    Returns:
        One row per county and year (``geoid`` str, ``year`` int, ``labelled`` bool), with, in bu/acre:
        ``potential`` (the cropland-weighted yield potential), ``water`` and ``heat`` (the linearised
        losses to water and heat stress, ``-potential x exponent``), ``excess`` (the rest of the
        weather's effect: the May-June excess-rain stress and the curvature of ``exp(-stress)`` over the
        county's pixels), ``trend``, ``effect`` (the persistent county effect) and ``noise`` (the
        county-year noise); ``expected`` = ``potential + water + heat + excess + trend + effect`` (the
        dataset's ``expected`` column) and ``yield`` = ``expected + noise`` (the observed yield, labelled
        or not).

    Raises:
        InputError: ``config`` is not a configuration, or a year is outside its years.
    """
    cfg = _config(config)
    wanted = sorted({int(y) for y in years})
    outside = [y for y in wanted if not cfg.first_year <= y <= cfg.last_year]
    if not wanted or outside:
        raise InputError(
            f"years {outside or wanted} are not simulated by configuration {cfg.name!r}; "
            f"expected years in {cfg.first_year}-{cfg.last_year}"
        )
    world, table = _make_world(cfg)
    labels = _Labels(world, table)
    frames = []
    for year in wanted:
        yr = _year_task(year, world)
        labels.add(yr)
        rec = labels.records[year]
        trend = cfg.trend_bu_per_year * (year - cfg.base_year)
        expected = (yr.expected_px + labels.effect).astype(np.float64)
        observed = yr.observed_px + labels.effect + _county_noise(cfg, year, len(table))
        pot = labels.potential_c
        frame = pd.DataFrame(
            {
                "geoid": rec["geoid"].astype(str).to_numpy(),
                "year": year,
                "labelled": rec["labelled"].to_numpy(),
                "potential": pot,
                "water": -pot * yr.water_c,
                "heat": -pot * yr.heat_c,
            }
        )
        frame["trend"] = trend
        frame["effect"] = labels.effect
        frame["excess"] = expected - frame[["potential", "water", "heat", "trend", "effect"]].sum(axis=1).to_numpy()
        frame["noise"] = observed - expected
        frame["expected"] = expected
        frame["yield"] = observed
        frames.append(frame[["geoid", "year", "labelled", *TERM_COLUMNS, "expected", "yield"]])
    return pd.concat(frames, ignore_index=True)


def _county_noise(cfg: SimulationConfig, year: int, n: int) -> np.ndarray:
    """The county-year noise of ``year`` (bu/acre), the same draws :class:`_Labels` adds."""
    return cfg.county_noise_bu * _streams(cfg.seed, "county-noise", year).standard_normal(n)


def _year_task(year: int, w: _World) -> _Year:
    """Simulate one year: its bands and the county aggregates of its pixel yields (a dask task)."""
    yr = _simulate_year(year, w.cfg, w.grid, w.lon, w.lat, w.world, w.normals)
    crop, n = w.world["cropland"], w.n_counties
    return _Year(
        year=year,
        bands={b: yr[b] for b in ("ppt", "lst_day", "lst_night", "ndvi", "evi")},
        expected_px=_aggregate(w.index, yr["yield_px_expected"], crop, n),
        observed_px=_aggregate(w.index, yr["yield_px"], crop, n),
        water_c=_aggregate(w.index, yr["water"], crop, n),
        heat_c=_aggregate(w.index, yr["heat"], crop, n),
    )


_TERMS = ("potential", "water", "heat", "excess", "trend", "effect", "noise")
"""The truth table's per-county yield terms."""


class _Labels:
    """County yields and the truth table's terms, gathered year by year (in any order)."""

    def __init__(self, w: _World, table: pd.DataFrame) -> None:
        cfg, n = w.cfg, w.n_counties
        self.cfg, self.table = cfg, table
        # Labels: enough cropland to be reported, and a few random withholdings each year.
        rng_lab = _streams(cfg.seed, "labels")
        self.reportable = (
            table["cropland_km2"].rank(ascending=False, method="first") <= cfg.labelled_per_year * 1.035
        ).to_numpy()
        county_effect = cfg.county_effect_bu * rng_lab.standard_normal(n)
        management = _aggregate(w.index, w.world["management"], w.world["cropland"], n)
        self.effect = county_effect + 1.5 * management
        self.potential_c = _aggregate(w.index, w.world["potential"], w.world["cropland"], n)
        self.records: dict[int, pd.DataFrame] = {}
        self.terms: dict[int, dict[str, np.ndarray]] = {}

    def add(self, yr: _Year) -> None:
        """Record the labels and the truth terms of one simulated year."""
        cfg, year, n = self.cfg, yr.year, len(self.table)
        rng_year = _streams(cfg.seed, "county-noise", year)
        noise = cfg.county_noise_bu * rng_year.standard_normal(n)  # the draws _county_noise repeats
        expected = yr.expected_px + self.effect
        observed = yr.observed_px + self.effect + noise
        withheld = rng_year.random(n) < 0.035
        labelled = self.reportable & ~withheld & np.isfinite(observed)
        self.records[year] = pd.DataFrame(
            {
                "geoid": self.table["geoid"],
                "year": year,
                "yield": np.where(labelled, observed, np.nan),
                "expected": expected,
                "labelled": labelled,
            }
        )
        # Per-county decomposition of the noise-free yield (for the truth table).
        pot, trend = self.potential_c, cfg.trend_bu_per_year * (year - cfg.base_year)
        self.terms[year] = {
            "potential": pot[labelled],
            "water": -pot[labelled] * yr.water_c[labelled],
            "heat": -pot[labelled] * yr.heat_c[labelled],
            "excess": yr.expected_px[labelled] - (pot * np.exp(-(yr.water_c + yr.heat_c)))[labelled] - trend,
            "trend": np.full(labelled.sum(), trend),
            "effect": self.effect[labelled],
            "noise": (observed - expected)[labelled],
        }

    def finish(self, seconds: float) -> tuple[pd.DataFrame, dict]:
        """The yields table (years in order) and the truth."""
        years = sorted(self.records)
        yields = pd.concat([self.records[y] for y in years], ignore_index=True)
        terms = {
            k: [self.terms[y][k] for y in years] for k in ("potential", "water", "heat", "excess", "trend", "effect", "noise")
        }
        return yields, _truth(self.cfg, yields, terms, seconds)


def simulate(config: SimulationConfig | str = "demo", progress: bool = True) -> SimulatedDataset:
    """Run the generating process in memory and return the cube, counties, yields and true drivers.

    For small configurations (tests, notebooks); :func:`write_simulation` streams the cube to disk
    year by year instead, for any size.

    Args:
        config: a :class:`SimulationConfig` or the name of one in :data:`SIMULATION_CONFIGS`.
        progress: show a progress bar over years.

    Raises:
        InputError: ``config`` is neither a :class:`SimulationConfig` nor the name of one, or ``progress``
            is not a bool.
    """
    progress = as_bool(progress, "progress")
    cfg = _config(config)
    t0 = time.perf_counter()
    w, table = _make_world(cfg)
    labels = _Labels(w, table)
    cube = empty_cube(w.grid, cfg.years, _title(cfg), simulated=True)
    for b in ("elevation", "sand", "silt", "clay"):
        cube[b].values[:] = w.world[b]
    for k, year in enumerate(tqdm(cfg.years, desc="simulating years", disable=not progress)):
        yr = _year_task(year, w)
        for b, values in yr.bands.items():
            cube[b].values[k] = values
        labels.add(yr)
    yields, truth = labels.finish(time.perf_counter() - t0)
    cube.attrs["simulation_config"] = str(asdict(cfg))
    return SimulatedDataset(cube=cube, counties=table, yields=yields, truth=truth, config=cfg)


YEAR_MEMORY_FACTOR = 14
"""Peak bytes of one simulated year per (month x pixel) float32 value (measured on the 1 km grid: 1.4 GB)."""
BASE_MEMORY_BYTES = 1.2e9
"""The static world, county polygons and libraries of a 1 km simulation, bytes (measured: 1.1 GB)."""


def years_in_flight(cfg: SimulationConfig, memory_gb: float, threads: int) -> int:
    """How many years to simulate at once so the build's estimated peak stays under ``memory_gb`` (at least 1)."""
    from geoapp.data.study_area import study_area_grid

    h, w = study_area_grid(cfg.resolution_m, cfg.states).shape
    per_year = YEAR_MEMORY_FACTOR * 4 * T * h * w
    fits = int((memory_gb * 1e9 - BASE_MEMORY_BYTES) // per_year)
    return max(1, min(threads, fits))


def write_simulation(
    config: SimulationConfig | str,
    cube_path: str | os.PathLike[str],
    progress: bool = True,
    scheduler: str | None = None,
    memory_gb: float = 3.0,
) -> SimulationTables:
    """Run the generating process, writing the cube to ``cube_path`` year by year; return the tables.

    The years are simulated in parallel with dask (:func:`geoapp.data.parallel.run_tasks`: local threads,
    or the dask.distributed scheduler at ``scheduler``) and each is written as soon as it is ready, so
    memory holds the static world and the years in flight, never the cube: locally, as many years as
    keep the estimated peak under ``memory_gb`` (:func:`years_in_flight`). The file appears under
    ``cube_path`` only once complete (:class:`~geoapp.data.cube_store.CubeWriter`). The values equal
    :func:`simulate`'s.

    Raises:
        InputError: a bad argument (config, progress, scheduler, memory_gb).
        DataFileError: the scheduler does not answer, or the file cannot be written.
    """
    progress = as_bool(progress, "progress")
    cfg = _config(config)
    memory_gb = as_number(memory_gb, "memory_gb", "GB")
    scheduler = probe_scheduler(scheduler)  # a scheduler that does not answer fails now, not after the world
    t0 = time.perf_counter()
    w, table = _make_world(cfg)
    labels = _Labels(w, table)
    in_flight = years_in_flight(cfg, memory_gb, local_threads()) if scheduler is None else None
    attrs = {"simulation_config": str(asdict(cfg))}
    with CubeWriter(cube_path, w.grid, cfg.years, _title(cfg), simulated=True, attrs=attrs) as writer:
        for b in ("elevation", "sand", "silt", "clay"):
            writer.write_static(b, w.world[b])
        tasks = run_tasks(
            _year_task,
            cfg.years,
            shared={"w": w},
            scheduler=scheduler,
            in_flight=in_flight,
            progress=progress,
            desc="simulating years",
            unit="year",
        )
        # Years are written in calendar order whatever order they finish in (a cluster's), so the
        # file's bytes, and the dataset's fingerprint, do not depend on the scheduler.
        waiting: dict[int, _Year] = {}
        order = iter(cfg.years)
        due = next(order)
        for _, yr in tasks:
            waiting[yr.year] = yr
            del yr
            while due in waiting:
                ready = waiting.pop(due)
                for b, values in ready.bands.items():
                    writer.write_year(b, ready.year, values)
                labels.add(ready)
                del ready
                due = next(order, None)
    yields, truth = labels.finish(time.perf_counter() - t0)
    return SimulationTables(title=_title(cfg), counties=table, yields=yields, truth=truth, config=cfg)


def _truth(cfg: SimulationConfig, yields: pd.DataFrame, terms: dict[str, list[np.ndarray]], seconds: float) -> dict:
    """The true drivers: month weights, variance shares of each term, noise floor and label counts."""
    lab = yields[yields["labelled"]]
    floor = float(np.sqrt(np.mean((lab["yield"] - lab["expected"]) ** 2)))
    stacked = {k: np.concatenate(v) for k, v in terms.items()}
    total = float(np.var(lab["yield"]))
    shares = {k: float(np.var(v) / total) for k, v in stacked.items()}
    water_var, heat_var = np.var(stacked["water"]), np.var(stacked["heat"])
    mix = (water_var * WATER_WEIGHTS + heat_var * HEAT_WEIGHTS) / max(water_var + heat_var, 1e-12)
    months = [int(m) for m in MONTHS]
    within_sd = lab.groupby("year")["yield"].std()
    return {
        "description": "True drivers of the simulated Corn Belt; see docs/simulated-data.md.",
        "months": months,
        "critical_months": {
            "water": dict(zip(months, WATER_WEIGHTS.tolist(), strict=True)),
            "heat": dict(zip(months, HEAT_WEIGHTS.tolist(), strict=True)),
            "combined": dict(zip(months, mix.tolist(), strict=True)),
        },
        "drivers": {
            "ppt": "water stress (lagged water balance vs. demand), July-August weighted; May-June excess rain",
            "lst_day": f"heat stress above {HEAT_THRESHOLD_C:g} degC, July weighted; raises water demand",
            "lst_night": "correlated with daytime temperature; no direct effect on yield",
            "sand": "lowers soil water capacity (more water stress) and yield potential",
            "silt": "raises soil water capacity and yield potential",
            "clay": "raises water capacity; heavy clay lowers potential",
            "elevation": "rough or high land lowers potential; shapes climate and cropland",
            "ndvi": "responds to the same stresses (no causal effect): an early readout of yield",
            "evi": "as ndvi, less saturated at high biomass",
        },
        "variance_shares": shares,
        "noise_floor_rmse_bu": floor,
        "county_noise_sd_bu": cfg.county_noise_bu,
        "yield_sd_within_year_bu": {int(k): float(v) for k, v in within_sd.items()},
        "yield_mean_by_year_bu": {int(k): float(v) for k, v in lab.groupby("year")["yield"].mean().items()},
        "labelled_per_year": {int(k): int(v) for k, v in yields.groupby("year")["labelled"].sum().items()},
        "scripted_years": {"drought_and_heat": cfg.drought_year, "record_high": cfg.record_year},
        "build_seconds": round(seconds, 2),
    }
