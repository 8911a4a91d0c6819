"""App benchmark in a real browser: ``python -m geoapp bench app [--repeat N] [--markdown docs/benchmarks.md]``.

Starts the app (``streamlit run app.py`` with the Makefile's flags, on a free loopback port) and
drives Debian's headless chromium through Playwright along a fixed script of journeys, one per page,
each on a fresh server and a fresh browser session: the page's first visit (cold), its second visit
(warm), then the page's interactions (map view, county click, year, checkpoint, model comparison,
encoders and galleries, map clicks, a held-out geolocation).

A step's time runs from the action (a navigation, a click, a choice) until Streamlit is idle and
the step's expected element is visible, and stays so for a quiet spell (a rerun that starts within
it, such as the one a map sends once drawn, is waited for); the quiet spell itself is not counted.
Budgets: a page's first paint 3 s, an interaction 1 s. A step that fails (an element not found
within the timeout, no rerun after a click) is reported as ``failed: <reason>`` and the rest go on.

Playwright is a test requirement (``make test-setup`` installs it); this module imports it only
when the benchmark runs. The app's folders follow ``GEOAPP_*`` variables, which the server inherits.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from geoapp.errors import GeoappError, MissingDataError
from geoapp.fileio import atomic_write_text
from geoapp.paths import REPO_ROOT

__all__ = [
    "PAGE_BUDGET_S",
    "INTERACTION_BUDGET_S",
    "SCRIPT",
    "Step",
    "Journey",
    "StepResult",
    "run_app_benchmark",
    "format_table",
    "write_markdown",
    "MARKDOWN_HEADING",
]

PAGE_BUDGET_S = 3.0
"""Budget of a page's first paint (cold or warm visit), seconds."""
INTERACTION_BUDGET_S = 1.0
"""Budget of an interaction once a page is open, seconds."""
MARKDOWN_HEADING = "## App in the browser (`python -m geoapp bench app`)"
"""The heading of the section ``write_markdown`` owns in the benchmarks file."""

STREAMLIT_FLAGS = (
    "--server.address", "127.0.0.1", "--server.headless", "true",
    "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
)  # fmt: skip
"""The Makefile's STREAMLIT_FLAGS (the port is added per server)."""
CHROMIUM_FLAGS = (
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
)  # fmt: skip
"""Chromium flags for a headless, offline, sandbox-less run (DESIGN: testing as a user would)."""

FOLIUM = 'iframe[title="streamlit_folium.st_folium"]'
_RUNS_JS = """
window.__geoappRuns = [];
new MutationObserver((changes) => {
  for (const m of changes) window.__geoappRuns.push([m.target.getAttribute('data-test-script-state'), Date.now()]);
}).observe(document, {attributes: true, subtree: true, attributeFilter: ['data-test-script-state']});
"""
"""Records every change of Streamlit's script state (running, notRunning, ...) with its time."""
_STATE_JS = (
    "() => [document.querySelector('[data-testid=stApp]')?.getAttribute('data-test-script-state') ?? null,"
    " window.__geoappRuns || []]"
)


class StepFailed(Exception):
    """A step did not reach its expected state; the message is the reason shown in the table."""


# ---- what a step does and what it waits for ---------------------------------------------------
Page = object  # a playwright.sync_api.Page; typed loosely so that this module imports without playwright


@dataclass(frozen=True)
class Step:
    """One timed step: ``act`` (a navigation or an interaction), then wait until ``ready`` holds.

    ``ready(page, memo)`` must not wait; ``memo`` is a dict the journey's steps share (``act`` may
    store what the page showed before, so that ``ready`` can check that it changed). A navigation
    has the page budget and needs no rerun; an interaction has the interaction budget and must
    start a rerun (a click the app ignores fails the step).
    """

    name: str
    act: Callable[[Page, str, dict], None]
    ready: Callable[[Page, dict], bool]
    navigation: bool = False

    @property
    def budget_s(self) -> float:
        """The step's budget in seconds."""
        return PAGE_BUDGET_S if self.navigation else INTERACTION_BUDGET_S


@dataclass(frozen=True)
class Journey:
    """A page's steps, run in order on one fresh server in one browser session."""

    page: str
    path: str
    steps: tuple[Step, ...]


@dataclass
class StepResult:
    """A step's seconds over the repeats (None where it failed) and the failures' reasons."""

    name: str
    budget_s: float | None
    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def median_s(self) -> float | None:
        """Median seconds over the successful runs; None when every run failed."""
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def within_budget(self) -> bool | None:
        """Whether the median is within budget; None without a budget or a figure."""
        if self.median_s is None or self.budget_s is None:
            return None
        return self.median_s <= self.budget_s


def _visible(page, selector: str, text: str | None = None) -> bool:
    loc = page.locator(selector)
    if text is not None:
        loc = loc.filter(has_text=text)
    try:
        return loc.first.is_visible()
    except Exception:  # noqa: BLE001 - a detached or navigating page reads as "not yet"
        return False


def _in_map(page, selector: str) -> bool:
    """Whether ``selector`` is visible inside the page's (first) folium map."""
    try:
        return page.frame_locator(FOLIUM).first.locator(selector).first.is_visible()
    except Exception:  # noqa: BLE001
        return False


def _text(page, selector: str, containing: str) -> str:
    loc = page.locator(selector).filter(has_text=containing)
    try:
        return loc.first.inner_text(timeout=2_000) if loc.count() else ""
    except Exception:  # noqa: BLE001
        return ""


def _visit(path: str) -> Callable[[Page, str, dict], None]:
    def act(page, url: str, memo: dict) -> None:  # noqa: ARG001
        page.goto(url + path, wait_until="commit")

    return act


def _choose(label: str, option: str, sidebar: bool = False) -> Callable[[Page, str, dict], None]:
    """Pick ``option`` (a regular expression on the option's text) in the selectbox labelled ``label``."""

    def act(page, url: str, memo: dict) -> None:  # noqa: ARG001
        where = "[data-testid=stSidebar] " if sidebar else ""
        page.locator(f"{where}[data-testid=stSelectbox]").filter(has_text=label).first.click(timeout=10_000)
        page.get_by_role("option", name=re.compile(option)).first.click(timeout=10_000)

    return act


def _radio(option: str) -> Callable[[Page, str, dict], None]:
    def act(page, url: str, memo: dict) -> None:  # noqa: ARG001
        page.locator("[data-testid=stRadio] label").filter(has_text=option).first.click(timeout=10_000)

    return act


def _click_map(fx: float, fy: float) -> Callable[[Page, str, dict], None]:
    """Click the folium map at a fraction of its box (as tests/browser does)."""

    def act(page, url: str, memo: dict) -> None:  # noqa: ARG001
        box = page.locator(FOLIUM).first.bounding_box(timeout=10_000)
        if box is None:
            raise StepFailed("the map is not on the page")
        page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)

    return act


def _remember(key: str, read: Callable[[Page], str], then: Callable[[Page, str, dict], None]):
    """Store what ``read`` shows before ``then`` acts, for a ``ready`` that waits for a change."""

    def act(page, url: str, memo: dict) -> None:
        memo[key] = read(page)
        then(page, url, memo)

    return act


def _all(*checks: Callable[[Page], bool]) -> Callable[[Page, dict], bool]:
    return lambda page, memo: all(check(page) for check in checks)  # noqa: ARG005


_YIELD_MAP_DRAWN = (lambda p: _in_map(p, "canvas"), lambda p: _visible(p, "[data-testid=stPlotlyChart]"))
_LEAFLET_OVERLAY = lambda p: _in_map(p, "img.leaflet-image-layer")  # noqa: E731
_REFERENCE = lambda p: _text(p, "[data-testid=stMarkdownContainer]", "Reference:")  # noqa: E731
_GEO_METRIC = lambda p: _text(p, "[data-testid=stMetric]", "Error of the top prediction")  # noqa: E731


def _visits(page: str, path: str, ready: Callable[[Page, dict], bool], cold: str = "first visit (cold)") -> tuple[Step, ...]:
    return (
        Step(f"{page}: {cold}", _visit(path), ready, navigation=True),
        Step(f"{page}: second visit (warm)", _visit(path), ready, navigation=True),
    )


def _script() -> tuple[Journey, ...]:
    home_ready = _all(lambda p: _visible(p, "h1", "geoapp"), lambda p: _visible(p, "[data-testid=stPageLink]", "Training"))
    yield_ready = _all(*_YIELD_MAP_DRAWN)
    attention_ready = _all(lambda p: _visible(p, "[data-testid=stPlotlyChart]"), lambda p: _visible(p, "h1", "Attention"))
    ablation_ready = _all(lambda p: _visible(p, "[data-testid=stPlotlyChart]"), lambda p: _in_map(p, "canvas"))
    similarity_ready = _all(_LEAFLET_OVERLAY, lambda p: bool(_REFERENCE(p)))
    geo_ready = _all(lambda p: bool(_GEO_METRIC(p)), lambda p: _in_map(p, ".leaflet-marker-icon, path, canvas"))
    return (
        Journey("Home", "/", _visits("Home", "/", home_ready)),
        Journey(
            "Yield map",
            "/yield_map",
            (
                *_visits("Yield map", "/yield_map", yield_ready),
                Step("Yield map: view Predicted", _radio("Predicted"), yield_ready),
                Step("Yield map: view Error", _radio("Error"), yield_ready),
                Step("Yield map: view True", _radio("True"), yield_ready),
                Step(
                    "Yield map: county click",
                    _click_map(0.5, 0.5),
                    _all(lambda p: _visible(p, "[data-testid=stMetric]", "bu/acre"), *_YIELD_MAP_DRAWN),
                ),
                Step(
                    "Yield map: year 2017",
                    _choose("Year", "^2017$", sidebar=True),
                    _all(lambda p: _visible(p, "h1", "County yields, 2017"), *_YIELD_MAP_DRAWN),
                ),
                Step(
                    "Yield map: checkpoint s-ha 2017",
                    _choose("Model checkpoint", "^s-ha · test 2017", sidebar=True),
                    _all(lambda p: _visible(p, "[data-testid=stPlotlyChart] .gtitle", "s-ha 2017"), *_YIELD_MAP_DRAWN),
                ),
                Step(
                    "Yield map: compare every model",
                    lambda page, url, memo: page.get_by_text("Compare every model tested on").click(timeout=10_000),  # noqa: ARG005
                    _all(lambda p: _visible(p, "[data-testid=stDataFrame]"), *_YIELD_MAP_DRAWN),
                ),
            ),
        ),
        Journey(
            "Attention",
            "/attention",
            (
                *_visits("Attention", "/attention", attention_ready),
                Step(
                    "Attention: checkpoint s-ha 2018",
                    _choose("Model checkpoint", "^s-ha · test 2018", sidebar=True),
                    attention_ready,
                ),
            ),
        ),
        Journey(
            "Feature ablation",
            "/feature_ablation",
            (
                *_visits("Feature ablation", "/feature_ablation", ablation_ready, cold="first visit (cold), first result"),
                Step("Feature ablation: map group PPT", _choose("Map the per-county change for", "^PPT$"), ablation_ready),
            ),
        ),
        Journey(
            "Location similarity",
            "/location_similarity",
            (
                *_visits("Location similarity", "/location_similarity", similarity_ready),
                Step(
                    "Location similarity: encoder GeoCLIP (land gallery)",
                    _choose("Encoder", "^GeoCLIP"),
                    _all(_LEAFLET_OVERLAY, lambda p: "GeoCLIP" in _REFERENCE(p)),
                ),
                Step(
                    "Location similarity: gallery GeoCLIP GPS (GeoCLIP encoder)",
                    _choose("Gallery", "^GeoCLIP's"),
                    similarity_ready,
                ),
                Step(
                    "Location similarity: encoder ours (GeoCLIP gallery)",
                    _choose("Encoder", "^Ours"),
                    _all(_LEAFLET_OVERLAY, lambda p: "Ours" in _REFERENCE(p)),
                ),
                Step(
                    "Location similarity: map click",
                    _remember("ref", _REFERENCE, _click_map(0.30, 0.35)),
                    lambda p, memo: _LEAFLET_OVERLAY(p) and _REFERENCE(p) not in ("", memo.get("ref")),
                ),
            ),
        ),
        Journey(
            "Geolocalization",
            "/geolocalization",
            (
                *_visits("Geolocalization", "/geolocalization", geo_ready),
                Step(
                    "Geolocalization: held-out location 1",
                    _remember("metric", _GEO_METRIC, _held_out(1)),
                    lambda p, memo: geo_ready(p, memo) and _GEO_METRIC(p) != memo.get("metric"),
                ),
            ),
        ),
    )


def _held_out(index: int) -> Callable[[Page, str, dict], None]:
    def act(page, url: str, memo: dict) -> None:  # noqa: ARG001
        box = page.locator("[data-testid=stNumberInput]").filter(has_text="Held-out location").locator("input").first
        box.fill(str(index), timeout=10_000)
        box.press("Enter")

    return act


SCRIPT = _script()
"""The fixed script: one journey per page, each on a fresh server."""


# ---- running it --------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(env: dict[str, str] | None = None, start_timeout_s: float = 180.0) -> Iterator[tuple[str, float]]:
    """Run ``streamlit run app.py`` on a free port; yield (base URL, seconds until /_stcore/health answered)."""
    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "app.py"), *STREAMLIT_FLAGS, "--server.port", str(port)]
    with tempfile.TemporaryFile(mode="w+") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        url = f"http://127.0.0.1:{port}"
        try:
            while True:
                with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
                if proc.poll() is not None or time.perf_counter() - t0 > start_timeout_s:
                    log.seek(0)
                    last = (log.read().strip().splitlines() or ["no output"])[-1]
                    raise GeoappError(f"the app did not start (exit status {proc.poll()}): {last}")
                time.sleep(0.2)
            yield url, time.perf_counter() - t0
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _settle(page, step: Step, memo: dict, t0: float, timeout_s: float, quiet_s: float) -> float:
    """Seconds from ``t0`` until Streamlit is idle and ``step.ready`` holds (and still does ``quiet_s`` later)."""
    seen_run = step.navigation
    ok_since: float | None = None
    while True:
        now = time.time()
        try:
            state, events = page.evaluate(_STATE_JS)
        except Exception:  # noqa: BLE001 - the page is navigating
            state, events = None, []
        runs = [t / 1000 for s, t in events if s in ("running", "rerunRequested") and t / 1000 >= t0]
        seen_run = seen_run or bool(runs)
        if ok_since is not None and any(t > ok_since for t in runs):
            ok_since = None  # a rerun started after the page looked done: wait for it
        ok = seen_run and state in ("notRunning", "compilationError") and step.ready(page, memo)
        if not ok:
            ok_since = None
        elif ok_since is None:
            ok_since = now
        elif now - ok_since >= quiet_s:
            return ok_since - t0
        if now - t0 > timeout_s:
            if not seen_run:
                raise StepFailed(f"no rerun within {timeout_s:.0f} s of the action (ignored?)")
            if state != "notRunning":
                raise StepFailed(f"the app was still running after {timeout_s:.0f} s")
            raise StepFailed(f"the expected element was not visible within {timeout_s:.0f} s")
        page.wait_for_timeout(50)


def _run_step(page, step: Step, url: str, memo: dict, timeout_s: float, quiet_s: float) -> float:
    """The step's seconds; raises StepFailed with a one-line reason."""
    from playwright.sync_api import Error as PlaywrightError

    t0 = time.time()
    try:
        step.act(page, url, memo)
        seconds = _settle(page, step, memo, t0, timeout_s, quiet_s)
    except PlaywrightError as exc:
        raise StepFailed((str(exc).strip().splitlines() or [type(exc).__name__])[0]) from exc
    if page.locator("[data-testid=stException]").count():
        raise StepFailed("the page shows a traceback: " + page.locator("[data-testid=stException]").first.inner_text()[:120])
    return seconds


def require_playwright() -> None:
    """Refuse to run without Playwright or chromium, in one line that says how to install them."""
    import importlib.util

    if importlib.util.find_spec("playwright") is None:
        raise MissingDataError("Playwright is not installed: `make test-setup` installs it (bench app drives headless chromium)")
    if shutil.which("chromium") is None:
        raise MissingDataError("chromium is not installed: `make test-setup` installs Debian's chromium (as root)")


def run_app_benchmark(
    repeat: int = 1,
    only: Sequence[str] | None = None,
    timeout_s: float = 120.0,
    quiet_s: float = 1.0,
    env: dict[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Run the script ``repeat`` times (fresh servers each time); returns {"rows": [StepResult], "machine", ...}.

    Args:
        repeat: runs of the whole script; each step reports the median of its successful runs.
        only: run only the steps with these names (journeys with none of them are skipped).
        timeout_s: how long a step may take before it is reported as failed.
        quiet_s: how long the page must stay idle and ready before a step counts as done (not counted).
        env: extra environment for the servers (e.g. ``GEOAPP_DATA_DIR``).
        progress: called with one line per finished step.
    """
    require_playwright()
    if repeat < 1:
        raise GeoappError(f"--repeat must be at least 1, got {repeat!r}")
    from playwright.sync_api import sync_playwright

    journeys = [Journey(j.page, j.path, tuple(s for s in j.steps if only is None or s.name in only)) for j in SCRIPT]
    journeys = [j for j in journeys if j.steps]
    unknown = sorted(set(only or ()) - {s.name for j in journeys for s in j.steps})
    if unknown:
        raise GeoappError(f"no such step: {unknown}; the steps are {[s.name for j in SCRIPT for s in j.steps]}")
    results: dict[str, StepResult] = {}
    for j in journeys:
        results[f"{j.page}: server start (to /_stcore/health)"] = StepResult(f"{j.page}: server start (to /_stcore/health)", None)
        for s in j.steps:
            results[s.name] = StepResult(s.name, s.budget_s)
    say = progress or (lambda line: None)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=list(CHROMIUM_FLAGS))
        try:
            for run in range(repeat):
                for j in journeys:
                    with serve_app(env) as (url, start_s):
                        results[f"{j.page}: server start (to /_stcore/health)"].seconds.append(start_s)
                        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                        ctx.add_init_script(_RUNS_JS)
                        page, memo = ctx.new_page(), {}
                        try:
                            for s in j.steps:
                                try:
                                    seconds = _run_step(page, s, url, memo, timeout_s, quiet_s)
                                    results[s.name].seconds.append(seconds)
                                    say(f"run {run + 1}/{repeat}  {s.name}: {seconds:.2f} s")
                                except StepFailed as exc:
                                    results[s.name].failures.append(str(exc))
                                    say(f"run {run + 1}/{repeat}  {s.name}: failed: {exc}")
                        finally:
                            ctx.close()
        finally:
            browser.close()
    return {"rows": list(results.values()), "repeat": repeat, "machine": machine(), "date": datetime.date.today().isoformat()}


# ---- reporting ---------------------------------------------------------------------------------
def machine() -> str:
    """The machine in words: cores and CPU model."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {model}"


def _cells(row: StepResult, repeat: int) -> tuple[str, str, str]:
    median = row.median_s
    if median is None:
        seconds = f"failed: {row.failures[0]}" if row.failures else "not run"
    else:
        seconds = f"{median:.2f}" + (f" ({len(row.failures)} of {repeat} runs failed)" if row.failures else "")
    budget = "" if row.budget_s is None else f"{row.budget_s:g} s"
    within = "" if row.within_budget is None else ("yes" if row.within_budget else "no")
    if median is None and row.budget_s is not None:
        within = "no"
    return seconds, budget, within


def format_table(result: dict, markdown: bool = False) -> str:
    """The table: step, seconds (median over the runs), budget, within budget."""
    header = ("step", "seconds", "budget", "within budget")
    rows = [(r.name, *_cells(r, result["repeat"])) for r in result["rows"]]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|---|---|---|---|"]
        return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)]) + "\n"
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(4)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in (header, *rows)) + "\n"


def _commit() -> str:
    """The checkout's commit, with a mark when tracked files had uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not head.stdout.strip():
        return "unknown"
    return head.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")


def section_markdown(result: dict, note: str = "") -> str:
    """The benchmarks file's section for ``result``, from its heading to its last line."""
    runs = "one run" if result["repeat"] == 1 else f"median of {result['repeat']} runs"
    failed = [r for r in result["rows"] if r.budget_s is not None and r.median_s is None]
    missed = [r for r in result["rows"] if r.within_budget is False]
    lines = [
        MARKDOWN_HEADING,
        "",
        f"Measured {result['date']} on {result['machine']} (shared, so times are indicative), at commit "
        f"{_commit()}, {runs}; headless Debian chromium, each journey on a fresh server (`streamlit run app.py` "
        "with the Makefile's flags) and a fresh browser session. A step runs from the navigation or the click "
        "until Streamlit is idle and the step's element is visible. Budgets: a page's first paint "
        f"{PAGE_BUDGET_S:g} s, an interaction {INTERACTION_BUDGET_S:g} s. The server-start rows are the time "
        "from `streamlit run` to `/_stcore/health`, not part of any budget.",
        "",
        format_table(result, markdown=True).rstrip("\n"),
        "",
        f"{sum(r.within_budget is True for r in result['rows'])} steps within budget, {len(missed)} over, {len(failed)} failed.",
    ]
    if note:
        lines += ["", note]
    lines[2] = textwrap.fill(lines[2], width=104, break_on_hyphens=False)
    lines[-1] = textwrap.fill(lines[-1], width=104, break_on_hyphens=False) if note else lines[-1]
    return "\n".join(lines) + "\n"


def write_markdown(result: dict, path: str | Path, note: str = "") -> Path:
    """Write the section into ``path`` (atomically): replace the section if present, else append; keep the rest."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    lines = old.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip("\n") == MARKDOWN_HEADING), None)
    section = section_markdown(result, note)
    if start is None:
        text = old.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        text = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
    atomic_write_text(path, text)
    return path
