# geoapp: `make run` starts the app, `make test` runs every test. Both set everything up first:
# a virtual environment with the pinned requirements and geoapp installed in it (editable), the
# embedded dataset, offline map assets, and (for tests) the checks' tools and Debian's chromium.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
STREAMLIT_FLAGS := --server.address 127.0.0.1 --server.port $(PORT) --server.headless true \
	--browser.gatherUsageStats false --server.fileWatcherType none

.PHONY: run test test-fast check setup test-setup data assets warm chromium bench clean

run: setup data assets ## start the app on http://127.0.0.1:$(PORT) (results computed ahead in the background; the server preloads the pages)
	@mkdir -p data/cache
	@nice -n 10 $(PY) -m geoapp warm --all-years --quiet > data/cache/warm.log 2>&1 &
	$(PY) -m geoapp.app_support.serve $(STREAMLIT_FLAGS)

warm: setup data ## compute ahead what the pages show (predictions, attention, ablation, gallery embeddings); quick when fresh
	$(PY) -m geoapp warm --all-years

test: setup test-setup data assets check ## the checks, then the whole test suite (unit, AppTest, browser)
	$(PY) -m pytest --durations=25

test-fast: setup test-setup data assets ## the edit-test loop: every test but the slow and browser ones
	$(PY) -m pytest -m "not slow"

check: test-setup ## lint, formatting and the layer contracts (pyproject.toml), each in seconds
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-nodeps.txt requirements-leafmap.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -r requirements-nodeps.txt -r requirements-leafmap.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@touch $@

test-setup: $(VENV)/.installed-test chromium

$(VENV)/.installed-test: requirements-test.txt $(VENV)/.installed
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-test.txt
	@touch $@

chromium: ## Debian chromium for the browser tests (needs root, as on CI)
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "chromium is missing: run 'sudo apt-get install chromium' (browser tests need it)"; exit 1; fi; }

data: setup ## build the embedded simulated dataset if it is missing
	$(PY) -m geoapp data build --quiet

SIDE_BY_SIDE_TGZ := data/cache/npm/leaflet-side-by-side-2.2.0.tgz

assets: setup ## Leaflet (from xstatic-leaflet) and its swipe plugin (npm: leaflet-side-by-side) into static/ for offline maps
	$(PY) -m geoapp assets install
	@test -f $(SIDE_BY_SIDE_TGZ) || { command -v npm >/dev/null || { echo "npm is missing: run 'sudo apt-get install npm' (the swipe map's plugin comes from the npm registry)"; exit 1; }; \
		mkdir -p $(dir $(SIDE_BY_SIDE_TGZ)) && npm pack --silent --pack-destination $(dir $(SIDE_BY_SIDE_TGZ)) leaflet-side-by-side@2.2.0 >/dev/null; }
	$(PY) -m geoapp.viz.offline_assets $(SIDE_BY_SIDE_TGZ)

bench: setup data ## benchmark scripts (print figures)
	$(PY) -m geoapp bench data

clean:
	rm -rf $(VENV) data static/leaflet .pytest_cache
