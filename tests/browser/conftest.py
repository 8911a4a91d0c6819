"""A real browser against a real server: `streamlit run app.py` on a free loopback port, driven by
Playwright in Debian's headless chromium (see DESIGN: testing as a user would).

The server uses the project's data directory (``make test`` builds the embedded dataset first).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from geoapp.paths import REPO_ROOT

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "screenshots"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(log_name: str = "streamlit.log", **env: str) -> Iterator[str]:
    """Run the app with extra environment ``env``; yield its base URL once /_stcore/health answers."""
    port = _free_port()
    (REPO_ROOT / "test-artifacts").mkdir(exist_ok=True)
    log = open(REPO_ROOT / "test-artifacts" / log_name, "w")
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "app.py"),
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start (exit {proc.poll()}); see test-artifacts/{log_name}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def app_url() -> Iterator[str]:
    """The app on the project's data and checkpoints."""
    with serve_app() as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    """Headless Debian chromium through Playwright."""
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("chromium is not installed: run `make test` (it installs Debian's chromium) or apt-get install chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    """A fresh browser page at a desktop size."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    yield pg
    ctx.close()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/ (and docs/images/ when GEOAPP_UPDATE_SCREENSHOTS=1)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("GEOAPP_UPDATE_SCREENSHOTS") == "1":
        docs = REPO_ROOT / "docs" / "images"
        docs.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, docs / path.name)
    return path
