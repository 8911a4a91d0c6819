"""Tests for geoapp.data.nass_api against a local fake of the Quick Stats API (no network)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from geoapp.cli import main
from geoapp.data.nass import read_quickstats
from geoapp.data.nass_api import (
    KEY_ENV,
    QuickStatsClient,
    QuickStatsKeyError,
    QuickStatsNoDataError,
    QuickStatsServiceError,
    fetch_county_yields,
    parse_states,
    parse_years,
)
from geoapp.errors import InputError
from tests.fixtures.quickstats import CORN, row

KEY = "0A1B2C3D-TEST-KEY-4E5F-000000000000"
YEARS = (2003, 2018)
COUNTIES = {
    "IA": ("IOWA", "19", [("ADAIR", "001"), ("ADAMS", "003"), ("ALLAMAKEE", "005")]),
    "IL": ("ILLINOIS", "17", [("ADAMS", "001"), ("ALEXANDER", "003"), ("BOND", "005")]),
}

# The API's CSV columns, in the order the service writes them.
API_HEADER = [
    "source_desc", "sector_desc", "group_desc", "commodity_desc", "class_desc", "util_practice_desc",
    "prodn_practice_desc", "statisticcat_desc", "unit_desc", "short_desc", "domain_desc", "domaincat_desc",
    "agg_level_desc", "state_ansi", "state_alpha", "state_name", "asd_code", "asd_desc", "county_ansi",
    "county_name", "region_desc", "zip_5", "watershed_code", "watershed_desc", "congr_district_code",
    "country_code", "country_name", "year", "freq_desc", "begin_code", "end_code", "reference_period_desc",
    "week_ending", "load_time", "Value", "CV (%)",
]  # fmt: skip
# API column -> key of a tests.fixtures.quickstats row (or a constant when the fixture has no such field)
FROM_ROW = {
    "source_desc": "program", "commodity_desc": "commodity", "short_desc": "item", "domain_desc": "domain",
    "domaincat_desc": "domain_cat", "agg_level_desc": "geo", "state_ansi": "state_ansi", "state_alpha": "alpha",
    "state_name": "state", "asd_code": "district_code", "asd_desc": "district", "county_ansi": "county_ansi",
    "county_name": "county", "region_desc": "region", "zip_5": "zip", "watershed_code": "watershed_code",
    "watershed_desc": "watershed", "year": "year", "reference_period_desc": "period", "week_ending": "week",
    "Value": "value", "CV (%)": "cv", "statisticcat_desc": "category", "unit_desc": "unit",
}  # fmt: skip
CONSTANT = {
    "sector_desc": "CROPS", "group_desc": "FIELD CROPS", "class_desc": "ALL CLASSES",
    "util_practice_desc": "ALL UTILIZATION PRACTICES", "prodn_practice_desc": "ALL PRODUCTION PRACTICES",
    "congr_district_code": "", "country_code": "9000", "country_name": "UNITED STATES", "freq_desc": "ANNUAL",
    "begin_code": "00", "end_code": "00", "load_time": "2019-02-20 15:00:00",
}  # fmt: skip
FILTERS = ("source_desc", "commodity_desc", "statisticcat_desc", "unit_desc", "agg_level_desc", "state_alpha")


def api_row(r: dict) -> dict[str, str]:
    return {col: r[FROM_ROW[col]] if col in FROM_ROW else CONSTANT[col] for col in API_HEADER}


def api_csv(rows: list[dict[str, str]]) -> str:
    def line(values) -> str:
        return ",".join('"' + v.replace('"', '""') + '"' for v in values)

    return "\n".join([line(API_HEADER)] + [line(r[c] for c in API_HEADER) for r in rows]) + "\n"


def soy_rows() -> list[dict[str, str]]:
    """Soybean county yields for IA and IL, 2003-2018, plus rows the query must not return."""
    rows = []
    for alpha, (state, ansi, counties) in COUNTIES.items():
        for i, (county, county_ansi) in enumerate(counties):
            for year in range(YEARS[0], YEARS[1] + 1):
                value = " (D)" if (alpha, county_ansi, year) == ("IA", "005", 2010) else f"{30 + i + (year - 2000) * 0.5:.1f}"
                rows.append(row(year, state, ansi, county, county_ansi, value, alpha=alpha, category="YIELD", unit="BU / ACRE"))
    rows.append(
        row(
            2010,
            "IOWA",
            "19",
            "ADAIR",
            "001",
            "160.0",
            alpha="IA",
            commodity="CORN",
            item=CORN,
            category="YIELD",
            unit="BU / ACRE",
        )
    )
    rows.append(row(2010, "IOWA", "19", "", "", "51.0", alpha="IA", geo="STATE", category="YIELD", unit="BU / ACRE"))
    return [api_row(r) for r in rows]


class FakeQuickStats:
    """What the fake service holds and how it behaves; ``log`` records every request (endpoint, params)."""

    def __init__(self) -> None:
        self.rows = soy_rows()
        self.key = KEY
        self.limit = 50_000
        self.refusal: tuple[int, str] = (401, json.dumps({"error": ["unauthorized"]}))
        self.script: dict[str, list[tuple[int, str, dict[str, str]]]] = {"api_GET": [], "get_counts": []}
        self.understate_counts = False
        self.log: list[tuple[str, dict[str, str]]] = []
        self.url = ""

    def select(self, params: dict[str, str]) -> list[dict[str, str]]:
        out = [r for r in self.rows if all(r[f].upper() == params[f].upper() for f in FILTERS if f in params)]
        if "year" in params:
            out = [r for r in out if r["year"] == params["year"]]
        if "year__GE" in params:
            out = [r for r in out if int(r["year"]) >= int(params["year__GE"])]
        if "year__LE" in params:
            out = [r for r in out if int(r["year"]) <= int(params["year__LE"])]
        return out

    def answer(self, endpoint: str, params: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        self.log.append((endpoint, params))
        if self.script.get(endpoint):
            return self.script[endpoint].pop(0)
        if endpoint not in ("api_GET", "get_counts"):
            return 404, "<html>Not Found</html>", {}
        if params.get("key") != self.key:
            return *self.refusal, {}
        match = self.select(params)
        if endpoint == "get_counts":
            return 200, json.dumps({"count": min(len(match), 1) if self.understate_counts else len(match)}), {}
        if len(match) > self.limit:
            return 413, json.dumps({"error": [f"exceeds limit={self.limit}"]}), {}
        if not match or params.get("format") != "CSV":
            return 400, json.dumps({"error": ["bad request - invalid query"]}), {}
        return 200, api_csv(match), {"Content-Type": "text/csv"}


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", KEY_ENV):
        monkeypatch.delenv(var, raising=False)
    fake = FakeQuickStats()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            parts = urlsplit(self.path)
            params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            status, body, headers = fake.answer(parts.path.strip("/").split("/")[-1], params)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/api/"
    yield fake
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


class Sleeps(list):
    """A stand-in for time.sleep that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fetch(server, tmp_path, states=("IA", "IL"), **kw):
    kw = {"key": KEY, "base_url": server.url, "sleep": Sleeps(), **kw}
    return fetch_county_yields("SOYBEANS", list(states), YEARS, tmp_path / "yields.csv", **kw)


def gets(server, endpoint: str = "api_GET") -> list[dict[str, str]]:
    return [p for e, p in server.log if e == endpoint]


# ---- success --------------------------------------------------------------------------------------
def test_fetch_merges_states_into_one_csv_read_quickstats_reads(server, tmp_path):
    summary = fetch(server, tmp_path)
    assert (summary.rows, summary.requests, summary.pieces) == (96, 4, 2)
    assert summary.states == ("IA", "IL") and summary.empty_states == () and summary.years == YEARS
    assert summary.path == tmp_path / "yields.csv"
    text = summary.path.read_text(encoding="utf-8")
    assert text.count('"source_desc"') == 1 and text.splitlines()[0].startswith('"source_desc","sector_desc"')

    df = read_quickstats(summary.path)
    geoids = {"19001", "19003", "19005", "17001", "17003", "17005"}
    assert set(df["geoid"]) == geoids
    assert sorted(set(df["year"])) == list(range(2003, 2019))
    assert len(df) == 95 and df.attrs["dropped"]["withheld"] == 1  # IA 005 2010 is (D)
    assert df.loc[(df["geoid"] == "17003") & (df["year"] == 2018), "yield"].item() == pytest.approx(40.0)

    for params in gets(server):
        assert params == {
            "key": KEY,
            "source_desc": "SURVEY",
            "commodity_desc": "SOYBEANS",
            "statisticcat_desc": "YIELD",
            "unit_desc": "BU / ACRE",
            "agg_level_desc": "COUNTY",
            "state_alpha": params["state_alpha"],
            "year__GE": "2003",
            "year__LE": "2018",
            "format": "CSV",
        }
    assert [p["state_alpha"] for p in gets(server, "get_counts")] == ["IA", "IL"]


def test_key_from_environment(server, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    assert fetch(server, tmp_path, key=None).rows == 96


def test_large_query_is_split_by_state_then_year_halves(server, tmp_path):
    server.limit = 20  # 3 counties x 16 years = 48 rows per state; 8 years = 24; 4 years = 12
    summary = fetch(server, tmp_path, row_limit=20)
    assert summary.pieces == 8 and summary.rows == 96
    ranges = [(p["state_alpha"], p["year__GE"], p["year__LE"]) for p in gets(server)]
    assert ranges == [
        (s, a, b) for s in ("IA", "IL") for a, b in (("2003", "2006"), ("2007", "2010"), ("2011", "2014"), ("2015", "2018"))
    ]
    assert all(len(server.select(p)) <= 20 for p in gets(server))
    whole = read_quickstats(fetch(server, tmp_path / "whole").path)
    pd.testing.assert_frame_equal(read_quickstats(summary.path), whole)


def test_refusal_for_size_splits_too(server, tmp_path):
    server.limit = 30
    server.understate_counts = True  # get_counts says 1 row: only the service's 413 reveals the size
    summary = fetch(server, tmp_path, states=["IL"])
    assert summary.rows == 48 and summary.pieces == 2
    assert [p["year__GE"] for p in gets(server)] == ["2003", "2003", "2011"]  # refused, then two halves


def test_single_year_split_to_one_year_uses_year_parameter(server, tmp_path):
    server.limit = 3
    summary = fetch(server, tmp_path, states=["IA"], row_limit=3)
    assert summary.pieces == 16 and summary.rows == 48
    assert all(set(p) >= {"year"} and "year__GE" not in p for p in gets(server))


def test_one_state_year_over_the_limit_is_refused(server, tmp_path):
    with pytest.raises(InputError, match=r"SOYBEANS YIELD \(BU / ACRE\) at COUNTY level in IA, 2003: get_counts says 3 rows.*"):
        fetch(server, tmp_path, row_limit=2)
    assert not (tmp_path / "yields.csv").exists()


def test_a_state_without_rows_is_reported(server, tmp_path):
    summary = fetch(server, tmp_path, states=["IA", "WY"])
    assert summary.states == ("IA",) and summary.empty_states == ("WY",) and summary.rows == 48


# ---- errors ---------------------------------------------------------------------------------------
def test_missing_key(server, tmp_path):
    with pytest.raises(QuickStatsKeyError, match=rf"no Quick Stats API key: get a free key at .*--key or set {KEY_ENV}"):
        fetch(server, tmp_path, key=None)
    assert server.log == []


@pytest.mark.parametrize(
    ("refusal", "said"),
    [
        ((401, json.dumps({"error": ["unauthorized"]})), r"HTTP 401: unauthorized"),
        ((403, "Forbidden"), r"HTTP 403: 'Forbidden'"),
        ((200, json.dumps({"error": ["unauthorized"]})), r"HTTP 200: unauthorized"),
    ],
    ids=["401-json", "403-text", "200-json"],
)
def test_refused_key(server, tmp_path, refusal, said):
    server.refusal = refusal
    with pytest.raises(
        QuickStatsKeyError, match=rf"refused the API key \({said}\) for SOYBEANS YIELD.* in IA.*check the key"
    ) as info:
        fetch(server, tmp_path, key="WRONG-KEY-123")
    assert "WRONG-KEY-123" not in str(info.value)
    assert len(server.log) == 1  # a refused key is not retried
    assert not (tmp_path / "yields.csv").exists()


def test_transient_failures_are_retried_with_backoff(server, tmp_path):
    server.script["get_counts"] = [(503, "Service Unavailable", {})]
    server.script["api_GET"] = [(429, json.dumps({"error": ["too many requests"]}), {"Retry-After": "3"})]
    sleeps = Sleeps()
    summary = fetch(server, tmp_path, states=["IA"], sleep=sleeps)
    assert summary.rows == 48 and summary.requests == 4
    assert sleeps == [1.0, 3.0]  # backoff 1 s; Retry-After lengthens the second wait


def test_persistent_server_error_gives_up(server, tmp_path):
    (tmp_path / "yields.csv").write_text("previous file", encoding="utf-8")
    server.script["get_counts"] = [(500, "Internal Server Error", {})] * 10
    sleeps = Sleeps()
    with pytest.raises(
        QuickStatsServiceError,
        match=r"127\.0\.0\.1 answered HTTP 500 \('Internal Server Error'\) to 5 tries of http://127\.0\.0\.1:\d+/api/"
        r"get_counts/\?key=\*\*\*&.*busy or down: try again later, or download the CSV by hand .* --yields",
    ) as info:
        fetch(server, tmp_path, states=["IA"], sleep=sleeps)
    assert KEY not in str(info.value)
    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    assert (tmp_path / "yields.csv").read_text(encoding="utf-8") == "previous file"


def test_nothing_found(server, tmp_path):
    with pytest.raises(
        QuickStatsNoDataError, match=r"no county ALPACAS yields \(SURVEY, BU / ACRE\) for IA, IL in 2003-2018; check"
    ):
        fetch_county_yields("alpacas", ["IA", "IL"], YEARS, tmp_path / "y.csv", key=KEY, base_url=server.url)


def test_no_data_answer_to_api_get(server, tmp_path):
    server.script["api_GET"] = [(400, json.dumps({"error": ["bad request - invalid query"]}), {})]
    with pytest.raises(
        QuickStatsNoDataError, match=r"no rows for SOYBEANS YIELD .* in IA, 2003-2018 \(HTTP 400: bad request - invalid query\)"
    ):
        fetch(server, tmp_path, states=["IA"])


def test_connection_refused(server, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens there
    sleeps = Sleeps()
    with pytest.raises(
        QuickStatsServiceError,
        match=r"cannot reach 127\.0\.0\.1: .*refused.*\(3 tries of .*key=\*\*\*.*\); check the network or download the CSV "
        r"by hand from https://quickstats\.nass\.usda\.gov and use it with --yields",
    ) as info:
        fetch(server, tmp_path, base_url=f"http://127.0.0.1:{port}/api/", retries=2, sleep=sleeps)
    assert KEY not in str(info.value) and sleeps == [1.0, 2.0]


@pytest.mark.parametrize(
    ("endpoint", "answer", "match"),
    [
        ("api_GET", (200, "<html>Welcome</html>", {"Content-Type": "text/html"}), r"expected a Quick Stats CSV with 'year'"),
        ("get_counts", (200, "<html>Welcome</html>", {}), r'expected JSON \{"count": N\}'),
        ("get_counts", (404, "<html>Not Found</html>", {}), r"HTTP 404 .* is the base URL .* the Quick Stats API\?"),
    ],
    ids=["html-not-csv", "html-not-count", "404"],
)
def test_answers_that_are_not_quick_stats(server, tmp_path, endpoint, answer, match):
    server.script[endpoint] = [answer]
    with pytest.raises(QuickStatsServiceError, match=match):
        fetch(server, tmp_path, states=["IA"])


def test_client_arguments_are_checked(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(InputError, match=r"base_url 'ftp://example\.org' is not an http\(s\) URL"):
        QuickStatsClient(KEY, "ftp://example.org")
    with pytest.raises(InputError, match=r"retries=-1.*expected retries >= 0"):
        QuickStatsClient(KEY, retries=-1)
    with pytest.raises(QuickStatsKeyError, match=r"no Quick Stats API key"):
        QuickStatsClient("  ")
    assert KEY not in repr(QuickStatsClient(KEY))


def test_parse_states_and_years():
    assert parse_states("ia, IL,ia") == ["IA", "IL"]
    assert parse_states(["ne"]) == ["NE"]
    assert parse_years("2003-2018") == (2003, 2018) and parse_years("2018") == (2018, 2018)
    with pytest.raises(InputError, match=r"states \['XX', 'IOWA'\]: not US state codes"):
        parse_states("IA,XX,IOWA")
    with pytest.raises(InputError, match=r"states ' , ': expected one or more two-letter state codes"):
        parse_states(" , ")
    with pytest.raises(InputError, match=r"years '03-18': expected a year \(2018\) or a range"):
        parse_years("03-18")
    with pytest.raises(InputError, match=r"years 2018-2003: expected four-digit years with the first not after the last"):
        parse_years("2018-2003")


def test_bad_row_limit_and_commodity(server, tmp_path):
    with pytest.raises(InputError, match=r"row_limit=0: expected a positive number of rows"):
        fetch(server, tmp_path, row_limit=0)
    with pytest.raises(InputError, match=r"commodity is empty"):
        fetch_county_yields(" ", ["IA"], YEARS, tmp_path / "y.csv", key=KEY, base_url=server.url)


# ---- command line ---------------------------------------------------------------------------------
def cli(server, out, *extra: str) -> int:
    args = ["data", "fetch-nass", "--commodity", "SOYBEANS", "--states", "IA,IL", "--years", "2003-2018"]
    return main([*args, "--out", str(out), "--base-url", server.url, *extra])


def test_cli_fetch_nass(server, tmp_path, capsys):
    out = tmp_path / "yields.csv"
    assert cli(server, out, "--key", KEY) == 0
    printed = capsys.readouterr().out
    assert "wrote 96 rows" in printed and "IA, IL" in printed and "2003-2018" in printed and KEY not in printed
    assert len(read_quickstats(out)) == 95


def test_cli_key_from_environment_and_refusal(server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "WRONG-KEY-123")
    assert cli(server, tmp_path / "yields.csv") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "refused the API key" in err and "WRONG-KEY-123" not in err
    monkeypatch.setenv(KEY_ENV, KEY)
    assert cli(server, tmp_path / "yields.csv") == 0


def test_cli_bad_years(server, tmp_path, capsys):
    assert cli(server, tmp_path / "y.csv", "--key", KEY, "--years", "2018-2003") == 2
    assert "expected four-digit years with the first not after the last" in capsys.readouterr().err
