#!/usr/bin/env bash
# Prepare what a GPU check carries to the device machine, in .gpu/ (ignored by git):
#   .gpu/ds      a small simulated dataset with the paper's 50 x 50 px tiles (IA and IL, 4 km, 2013-2018, ~17 MB)
#   .gpu/wheels  cp312 wheels of the packages geoapp's training path needs and the device's Python lacks
# Run from the repository root, after `make setup`; then run scripts/gpu_check.sh on the device with carry [".gpu"].
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
mkdir -p .gpu/wheels
if [ ! -f .gpu/ds/dataset.json ]; then
  .venv/bin/python - <<'PY'
from geoapp.data.dataset import build_default_dataset
from geoapp.data.simulate import SimulationConfig

cfg = SimulationConfig(name="gpu-check", resolution_m=4000.0, tile_px=50, first_year=2013, last_year=2018, states=("IA", "IL"))
print(build_default_dataset(cfg, progress=False, out_dir=".gpu/ds"))
PY
fi
# what `python -m geoapp` imports on the training path that the device image does not hold (device/README.md)
for name in affine cftime netCDF4 pyproj XStatic-Leaflet; do
  pin=$(grep -ihE "^${name}==" requirements*.txt | head -1 || true)
  [ -n "$pin" ] || { echo "no pin for $name in requirements*.txt" >&2; exit 1; }
  .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d .gpu/wheels "$pin" 2> >(grep -v "^WARNING: Location" >&2)
done
du -sh .gpu/ds .gpu/wheels
