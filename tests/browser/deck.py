"""deck.gl charts in the browser tests: their pixels, waiting until they are drawn, and dragging them."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

DECK = "[data-testid=stDeckGlJsonChart]"
"""Streamlit's element around a pydeck chart."""


def deck_pixels(page) -> np.ndarray:
    """(H, W, 3) uint8 RGB of the deck.gl chart as drawn on screen."""
    png = page.locator(DECK).screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def wait_drawn(
    page, measure: Callable[[np.ndarray], dict], ready: Callable[[dict], bool], what: str, timeout_s: float
) -> tuple[np.ndarray, dict]:
    """Poll the chart until ``ready(measure(pixels))``; returns the pixels and the measures, or fails naming ``what``."""
    deadline = time.time() + timeout_s
    while True:
        rgb = deck_pixels(page)
        seen = measure(rgb)
        if ready(seen):
            return rgb, seen
        if time.time() > deadline:
            raise AssertionError(f"{what} not drawn within {timeout_s:.0f} s: {seen}")
        page.wait_for_timeout(500)


def drag_changes(page, before: np.ndarray, dx: float, dy: float) -> float:
    """Drag across the chart's canvas in 10 steps of (dx, dy) px; the share of its pixels that changed."""
    box = page.locator(f"{DECK} canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(cx + dx * step, cy + dy * step)
        page.wait_for_timeout(30)
    page.mouse.up()
    page.wait_for_timeout(1500)
    return float(np.mean(np.any(before != deck_pixels(page), axis=-1)))
