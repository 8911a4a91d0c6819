"""The training path imports no GIS stack: GDAL (rasterio), geopandas, shapely and their readers load only
where files are ingested or maps drawn."""

from __future__ import annotations

import json
import subprocess
import sys

from geoapp.paths import REPO_ROOT

GIS = ("geopandas", "shapely", "rasterio", "fiona", "pyogrio")


def test_training_modules_import_without_the_gis_stack():
    code = (
        "import geoapp.training.yield_trainer, geoapp.training.location_trainer, geoapp.jobs.worker; "
        "import sys, json; print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "geoapp.training.yield_data" in modules and "torch" in modules  # it did import the training path
    loaded = sorted(m for m in modules if m.split(".")[0] in GIS)
    assert loaded == [], f"the training path imports {loaded}"
