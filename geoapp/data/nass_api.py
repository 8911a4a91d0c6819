"""Fetch county yields from the USDA NASS Quick Stats API into one Quick Stats CSV.

The Quick Stats API (https://quickstats.nass.usda.gov/api) answers ``GET <base>/api_GET/?key=...&format=CSV``
with the same CSV that :func:`geoapp.data.nass.read_quickstats` reads, and ``GET <base>/get_counts/?...``
with ``{"count": N}``, the number of rows the same query would return. One request may return at most
50,000 rows, so :func:`fetch_county_yields` asks for the count first and splits a query that is too large:
one request per state, then the state's year range in halves until each piece fits. The pieces are
merged into one CSV (one header) written atomically.

The query is the county-level survey yield of a commodity in bushels per acre::

    commodity_desc=SOYBEANS  statisticcat_desc=YIELD  agg_level_desc=COUNTY  unit_desc=BU / ACRE
    source_desc=SURVEY  state_alpha=IA  year__GE=2003  year__LE=2018  format=CSV

Transient failures (connection errors, timeouts, HTTP 429 and 5xx) are retried with exponential
backoff. A missing or refused key raises :class:`QuickStatsKeyError`, a query that matches nothing
:class:`QuickStatsNoDataError`, and a service that stays unreachable or answers something unexpected
:class:`QuickStatsServiceError`. The key comes from an argument or the ``NASS_API_KEY`` environment
variable; it is sent only as the ``key`` query parameter and is masked (``key=***``) in every message.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from geoapp.data.args import as_int, as_number, as_path, as_text, given
from geoapp.errors import DataFileError, InputError
from geoapp.fileio import atomic_write_text, check_writable

__all__ = [
    "DEFAULT_BASE_URL",
    "KEY_ENV",
    "ROW_LIMIT",
    "FetchSummary",
    "QuickStatsClient",
    "QuickStatsKeyError",
    "QuickStatsNoDataError",
    "QuickStatsServiceError",
    "fetch_county_yields",
    "parse_states",
    "parse_years",
]

DEFAULT_BASE_URL = "https://quickstats.nass.usda.gov/api/"
KEY_ENV = "NASS_API_KEY"
ROW_LIMIT = 50_000
MAX_RETRIES = 20
"""Most extra tries after a transient failure a client may be set to (more would retry for hours)."""
MAX_WAIT_S = 60.0
"""Longest wait before a retry: the cap of an HTTP ``Retry-After`` and of ``backoff_s``."""
"""Most rows Quick Stats returns for one ``api_GET`` request."""

KEY_HINT = f"get a free key at https://quickstats.nass.usda.gov/api and pass it with --key or set {KEY_ENV}"
MANUAL_HINT = "download the CSV by hand from https://quickstats.nass.usda.gov and use it with --yields"

US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
    "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY".split()
)
"""Two-letter postal codes Quick Stats uses as ``state_alpha`` for the states (and DC)."""

_log = logging.getLogger(__name__)


class QuickStatsKeyError(InputError):
    """No Quick Stats API key was given, or the service refused it."""


class QuickStatsNoDataError(InputError):
    """Quick Stats holds no rows for the query (wrong commodity, states or years)."""


class QuickStatsServiceError(DataFileError):
    """Quick Stats cannot be reached, keeps failing, or answers something that is not a Quick Stats reply."""


class _TooLarge(Exception):
    """Internal: the service refused a request for returning more rows than its limit."""


@dataclass(frozen=True)
class FetchSummary:
    """What :func:`fetch_county_yields` wrote.

    Attributes:
        path: the merged CSV.
        rows: data rows in it (the header excluded).
        requests: HTTP requests sent (``get_counts`` and ``api_GET``, retries included).
        pieces: ``api_GET`` downloads merged into the file.
        states: states asked for that returned rows, in the order asked.
        empty_states: states asked for that hold no rows for the commodity and years.
        years: the year range asked for, first and last included.
    """

    path: Path
    rows: int
    requests: int
    pieces: int
    states: tuple[str, ...]
    empty_states: tuple[str, ...]
    years: tuple[int, int]


class QuickStatsClient:
    """A minimal Quick Stats API client: row counts and CSV downloads, with retries.

    Args:
        key: the API key; ``None`` reads the ``NASS_API_KEY`` environment variable.
        base_url: the API root, ending in ``/api/`` (default the real service; tests point it at a local server).
        timeout_s: seconds to wait for one answer.
        retries: extra tries after a transient failure (connection error, timeout, HTTP 429 or 5xx),
            at most :data:`MAX_RETRIES`.
        backoff_s: seconds before the first retry; each further retry waits twice as long, up to
            :data:`MAX_WAIT_S` (60 s), which caps ``backoff_s`` too. An HTTP ``Retry-After`` in seconds
            lengthens the wait (up to 60 s).
        sleep: the function that waits (seconds), injectable so tests do not wait.

    Raises:
        QuickStatsKeyError: no key was given and ``NASS_API_KEY`` is not set.
        InputError: ``key`` is not text, ``base_url`` not an http(s) URL, ``timeout_s``/``backoff_s`` not a
            number of seconds (positive; 0..60), ``retries`` not a whole number in 0..:data:`MAX_RETRIES` (bools refused).
    """

    def __init__(
        self,
        key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout_s: float = 60.0,
        retries: int = 4,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if key is not None and not isinstance(key, str):
            raise InputError(f"key must be text (str) or None to read {KEY_ENV}, got {type(key).__name__}")
        key = (key if key is not None else os.environ.get(KEY_ENV, "")).strip()
        if not key:
            raise QuickStatsKeyError(f"no Quick Stats API key: {KEY_HINT}")
        if not isinstance(base_url, str):
            raise InputError(f"base_url must be text (str) such as {DEFAULT_BASE_URL!r}, got {given(base_url)}")
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InputError(f"base_url {base_url!r} is not an http(s) URL; expected e.g. {DEFAULT_BASE_URL!r}")
        timeout_s = as_number(timeout_s, "timeout_s", "seconds")
        backoff_s = as_number(backoff_s, "backoff_s", "seconds", zero_ok=True)
        retries = as_int(retries, "retries")
        if not callable(sleep):
            raise InputError(f"sleep must be a function of seconds (such as time.sleep), got {given(sleep)}")
        if not (0 <= retries <= MAX_RETRIES and 0 <= backoff_s <= MAX_WAIT_S and timeout_s > 0):
            raise InputError(
                f"retries={retries}, backoff_s={backoff_s}, timeout_s={timeout_s}: expected retries >= 0 (at most "
                f"{MAX_RETRIES}), backoff_s >= 0 (at most {MAX_WAIT_S:g} s) and timeout_s > 0"
            )
        self._key = key
        self.base_url = base_url.rstrip("/") + "/"
        self.host = parsed.hostname or parsed.netloc
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        self.requests = 0
        """HTTP requests sent so far, retries included."""

    def __repr__(self) -> str:
        return f"QuickStatsClient(base_url={self.base_url!r}, key=***)"

    def count(self, params: Mapping[str, str]) -> int:
        """The number of rows ``api_GET`` would return for ``params`` (``get_counts``); 0 when none match."""
        try:
            body = self._get("get_counts", params)
        except QuickStatsNoDataError:
            return 0
        except _TooLarge as exc:
            raise QuickStatsServiceError(f"{self.host} refused get_counts for {_describe(params)}: {exc}") from None
        try:
            count = json.loads(body)["count"]
            n = int(str(count).replace(",", "")) if not isinstance(count, bool) else -1
        except (ValueError, KeyError, TypeError) as exc:
            n, cause = -1, exc
        else:
            cause = None
        if n < 0:
            raise QuickStatsServiceError(
                f'{self.host} answered get_counts with {_snippet(body)}; expected JSON {{"count": N}} with N a '
                f"whole number of rows, 0 or more; is the base URL {self.base_url!r} the Quick Stats API?"
            ) from cause
        return n

    def get_csv(self, params: Mapping[str, str]) -> str:
        """The CSV text ``api_GET`` returns for ``params`` (``format=CSV`` is added).

        Raises:
            QuickStatsNoDataError: nothing matches.
            QuickStatsServiceError: the answer is not a Quick Stats CSV (no ``year`` and ``Value`` columns).
        """
        body = self._get("api_GET", {**params, "format": "CSV"})
        try:
            records = list(csv.reader(io.StringIO(body)))
        except csv.Error as exc:
            raise QuickStatsServiceError(
                f"{self.host} answered api_GET with {_snippet(body)}, which is not CSV ({exc}); try again later, or {MANUAL_HINT}"
            ) from exc
        header = records[0] if records else []
        if not {"year", "value"} <= {h.strip().lower() for h in header}:
            raise QuickStatsServiceError(
                f"{self.host} answered api_GET with {_snippet(body)}; expected a Quick Stats CSV with "
                f"'year' and 'Value' columns; is the base URL {self.base_url!r} the Quick Stats API?"
            )
        ragged = [i for i, rec in enumerate(records[1:], start=2) if rec and len(rec) != len(header)]
        if ragged:
            raise QuickStatsServiceError(
                f"{self.host} answered api_GET for {_describe(params)} with a CSV of {len(ragged)} malformed record(s) "
                f"(record {ragged[0]} has {len(records[ragged[0] - 1])} fields, the header {len(header)}): the answer "
                f"was cut short or garbled; try again later, or {MANUAL_HINT}"
            )
        return body

    # ---- one request, with retries ----------------------------------------------------------------
    def _get(self, endpoint: str, params: Mapping[str, str]) -> str:
        """The body of ``GET <base>/<endpoint>/?key=...&<params>``, retrying transient failures."""
        query = urllib.parse.urlencode({"key": self._key, **params}, quote_via=urllib.parse.quote)
        url = f"{self.base_url}{endpoint}/?{query}"
        shown = _mask(url)
        request = urllib.request.Request(url, headers={"User-Agent": "geoapp", "Accept": "text/csv, application/json"})
        failure = ""
        unreachable = False
        retry_after: float | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self._delay(attempt, retry_after))
            retry_after = None
            self.requests += 1
            _log.info("GET %s (try %d)", shown, attempt + 1)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                    status, body = resp.status, _decode(resp.read())
            except urllib.error.HTTPError as exc:
                status, body = exc.code, _error_body(exc)
                retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
                exc.close()
            except (OSError, http.client.HTTPException) as exc:  # URLError, refused, reset, timeout, bad status line
                failure, unreachable = _reason(exc), True
                continue
            messages = _api_errors(body)
            if 200 <= status < 300 and not messages:
                return body
            unreachable = False
            failure = f"HTTP {status} ({_snippet(body)})"
            if status == 429 or status >= 500:
                continue
            self._raise_for(status, messages, body, endpoint, params, shown)
        tries = f"{self.retries + 1} {'try' if self.retries == 0 else 'tries'}"
        if unreachable:
            raise QuickStatsServiceError(
                f"cannot reach {self.host}: {failure} ({tries} of {shown}); check the network or {MANUAL_HINT}"
            )
        raise QuickStatsServiceError(
            f"{self.host} answered {failure} to {tries} of {shown}; the service is busy or down: "
            f"try again later, or {MANUAL_HINT}"
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before try ``attempt + 1``: ``backoff_s * 2**(attempt - 1)`` up to 60 s, at least ``Retry-After``."""
        delay = min(self.backoff_s * 2 ** (attempt - 1), MAX_WAIT_S)
        return max(delay, retry_after) if retry_after is not None else delay

    def _raise_for(
        self, status: int, messages: list[str], body: str, endpoint: str, params: Mapping[str, str], shown: str
    ) -> NoReturn:
        """Raise the error that fits a non-transient refusal."""
        said = "; ".join(messages) if messages else _snippet(body)
        lowered = said.lower()
        asked = _describe(params)
        if status in (401, 403) or any(w in lowered for w in ("unauthori", "forbidden", "api key", "invalid key")):
            raise QuickStatsKeyError(
                f"{self.host} refused the API key (HTTP {status}: {said}) for {asked}; check the key "
                f"(it is a 36-character code) or {KEY_HINT}"
            )
        if status == 413 or "exceeds limit" in lowered:
            raise _TooLarge(f"HTTP {status}: {said}")
        if status == 400 or "no data" in lowered or "invalid query" in lowered:
            raise QuickStatsNoDataError(
                f"Quick Stats has no rows for {asked} (HTTP {status}: {said}); check the commodity as Quick Stats "
                "spells it (SOYBEANS, CORN), the state codes and the years"
            )
        raise QuickStatsServiceError(
            f"{self.host} answered {endpoint} with HTTP {status} ({said}) for {shown}; expected a Quick Stats "
            f"reply; is the base URL {self.base_url!r} the Quick Stats API? Otherwise {MANUAL_HINT}"
        )


# ---- the county-yield download --------------------------------------------------------------------
def fetch_county_yields(
    commodity: str,
    states: Sequence[str],
    years: tuple[int, int],
    out: str | os.PathLike[str],
    *,
    key: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    row_limit: int = ROW_LIMIT,
    timeout_s: float = 60.0,
    retries: int = 4,
    backoff_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchSummary:
    """Download county survey yields (bu/acre) of ``commodity`` for ``states`` and ``years`` into one CSV.

    For each state, ``get_counts`` tells how many rows the query returns; a query over ``row_limit``
    rows is split into halves of its year range until each piece fits (a refusal for size, HTTP 413,
    splits the same way). The pieces are merged under one header (the union of their columns, every
    field quoted) and written atomically to ``out``, which :func:`geoapp.data.nass.read_quickstats`
    then reads.

    Args:
        commodity: the Quick Stats commodity, e.g. ``"SOYBEANS"`` or ``"CORN"`` (case-insensitive).
        states: two-letter state codes (``["IA", "IL"]``).
        years: first and last year, both included.
        out: the CSV file to write.
        key: the API key; ``None`` reads ``NASS_API_KEY``.
        base_url: the API root (default the real service).
        row_limit: most rows one request may return (the service's limit is 50,000).
        timeout_s: seconds to wait for one answer.
        retries: extra tries after a transient failure.
        backoff_s: seconds before the first retry, doubling after each.
        sleep: the function that waits between retries (seconds).

    Returns:
        A :class:`FetchSummary` (path, rows, requests, pieces, states with and without rows, years).

    Raises:
        InputError: a state code, the year range or a number is not valid, ``out`` is a folder, or one
            state and year alone exceeds ``row_limit``.
        DataFileError: the folder ``out`` goes in cannot be written (checked, like every argument,
            before the first request).
        QuickStatsKeyError: no key, or the key was refused.
        QuickStatsNoDataError: no state holds rows for the commodity and years.
        QuickStatsServiceError: the service is unreachable, keeps failing, or answers something unexpected.
    """
    commodity = " ".join(as_text(commodity, "commodity").split()).upper()
    out = _check_out(as_path(out, "out"))
    if not commodity:
        raise InputError("commodity is empty; expected a Quick Stats commodity such as 'SOYBEANS' or 'CORN'")
    wanted = parse_states(states)
    first, last = _check_years(years)
    if as_int(row_limit, "row_limit") < 1:
        raise InputError(f"row_limit={row_limit}: expected a positive number of rows (the service allows {ROW_LIMIT})")
    client = QuickStatsClient(key, base_url, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s, sleep=sleep)

    base = {
        "source_desc": "SURVEY",
        "commodity_desc": commodity,
        "statisticcat_desc": "YIELD",
        "unit_desc": "BU / ACRE",
        "agg_level_desc": "COUNTY",
    }
    pieces: list[str] = []
    with_rows: list[str] = []
    empty: list[str] = []
    for state in wanted:
        got = _fetch_range(client, {**base, "state_alpha": state}, first, last, row_limit)
        (with_rows if got else empty).append(state)
        pieces.extend(got)
    if not pieces:
        raise QuickStatsNoDataError(
            f"Quick Stats has no county {commodity} yields (SURVEY, BU / ACRE) for {', '.join(wanted)} in "
            f"{first}-{last}; check the commodity as Quick Stats spells it (SOYBEANS, CORN), the states and the years"
        )
    text, rows = _merge(pieces)
    atomic_write_text(out, text)
    _log.info("wrote %d rows from %d requests to %s", rows, client.requests, out)
    return FetchSummary(
        path=Path(out),
        rows=rows,
        requests=client.requests,
        pieces=len(pieces),
        states=tuple(with_rows),
        empty_states=tuple(empty),
        years=(first, last),
    )


def _fetch_range(client: QuickStatsClient, params: dict[str, str], first: int, last: int, row_limit: int) -> list[str]:
    """CSV pieces for ``params`` over years ``first..last``, halving the range while a piece exceeds ``row_limit``."""
    ranged = {**params, **_year_params(first, last)}
    n = client.count(ranged)
    if n == 0:
        return []
    if n <= row_limit:
        try:
            return [client.get_csv(ranged)]
        except _TooLarge as exc:
            refusal = str(exc)
    else:
        refusal = f"get_counts says {n} rows, over the limit of {row_limit}"
    if first == last:
        raise InputError(
            f"{_describe(ranged)}: {refusal}; one state and year cannot be split further; "
            f"fetch fewer rows per request (row_limit) or {MANUAL_HINT}"
        )
    mid = (first + last) // 2
    return _fetch_range(client, params, first, mid, row_limit) + _fetch_range(client, params, mid + 1, last, row_limit)


def _merge(pieces: Sequence[str]) -> tuple[str, int]:
    """One CSV from several Quick Stats CSVs: the union of their columns (first seen order), every field quoted."""
    header: list[str] = []
    rows: list[dict[str, str]] = []
    for piece in pieces:
        reader = csv.DictReader(io.StringIO(piece))
        header.extend(name for name in reader.fieldnames or [] if name not in header)
        rows.extend(reader)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, restval="", extrasaction="ignore", quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue(), len(rows)


# ---- arguments ------------------------------------------------------------------------------------
def _check_out(out: Path) -> Path:
    """``out``, refused before any request when it is a folder or its folder cannot be written."""
    if out.is_dir():
        raise InputError(f"out {str(out)!r} is a folder; give the CSV file to write, e.g. {str(out / 'yields.csv')!r}")
    check_writable(out)
    return out


def parse_states(states: str | Sequence[str]) -> list[str]:
    """Two-letter state codes from ``"IA,IL"`` or ``["ia", "IL"]``: upper-cased, duplicates dropped, order kept.

    Raises:
        InputError: no state, or a code that is not a US state's two-letter code.
    """
    if not isinstance(states, str) and not (isinstance(states, Sequence) and all(isinstance(s, str) for s in states)):
        raise InputError(f"states must be text such as 'IA,IL' or a list of state codes, got {type(states).__name__} {states!r}")
    items = states.split(",") if isinstance(states, str) else list(states)
    codes = list(dict.fromkeys(s.strip().upper() for s in items if s.strip()))
    if not codes:
        raise InputError(f"states {states!r}: expected one or more two-letter state codes such as 'IA,IL'")
    bad = [c for c in codes if c not in US_STATES]
    if bad:
        raise InputError(f"states {bad}: not US state codes; expected two-letter codes such as IA, IL, IN, NE")
    return codes


def parse_years(text: str) -> tuple[int, int]:
    """The year range in ``"2003-2018"`` (both included) or ``"2018"`` (one year).

    Raises:
        InputError: ``text`` is not text, not one year or two years joined by ``-``, or the first after the last.
    """
    if not isinstance(text, str):
        raise InputError(f"years must be text such as '2003-2018' or '2018', got {given(text)}")
    match = re.fullmatch(r"\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?", text)
    if not match:
        raise InputError(f"years {text!r}: expected a year (2018) or a range of years (2003-2018)")
    first = int(match.group(1))
    return _check_years((first, int(match.group(2) or first)))


def _check_years(years: tuple[int, int]) -> tuple[int, int]:
    """``years`` as ints, refusing a reversed range, years that are not four digits, and what is not two whole numbers.

    Only whole numbers are years: ``(2018.7, 2019)`` or ``("2018", "2019")`` is refused, never rounded or parsed.
    """
    if not isinstance(years, Sequence) or isinstance(years, str) or len(years) != 2:
        raise InputError(f"years {years!r}: expected (first, last), two years such as (2003, 2018)")
    try:
        first, last = (as_int(y, "years") for y in years)
    except InputError as exc:
        raise InputError(f"years {years!r}: expected (first, last), two whole years such as (2003, 2018)") from exc
    if not (1000 <= first <= last <= 9999):
        raise InputError(f"years {first}-{last}: expected four-digit years with the first not after the last")
    return first, last


# ---- helpers --------------------------------------------------------------------------------------
def _year_params(first: int, last: int) -> dict[str, str]:
    """``year=Y`` for one year, else ``year__GE`` and ``year__LE``."""
    if first == last:
        return {"year": str(first)}
    return {"year__GE": str(first), "year__LE": str(last)}


def _describe(params: Mapping[str, str]) -> str:
    """The query in words, e.g. ``SOYBEANS YIELD (BU / ACRE) at COUNTY level in IA, 2003-2018``."""
    what = " ".join(params[k] for k in ("commodity_desc", "statisticcat_desc") if k in params) or "the query"
    if "unit_desc" in params:
        what += f" ({params['unit_desc']})"
    if "agg_level_desc" in params:
        what += f" at {params['agg_level_desc']} level"
    if "state_alpha" in params:
        what += f" in {params['state_alpha']}"
    if "year" in params:
        what += f", {params['year']}"
    elif "year__GE" in params or "year__LE" in params:
        what += f", {params.get('year__GE', '')}-{params.get('year__LE', '')}"
    return what


def _mask(url: str) -> str:
    """``url`` with the value of its ``key`` parameter replaced by ``***``."""
    return re.sub(r"([?&]key=)[^&#]*", r"\1***", url)


def _decode(data: bytes) -> str:
    """Response bytes as text (UTF-8, a BOM dropped, bad bytes replaced)."""
    return data.decode("utf-8-sig", errors="replace")


def _error_body(exc: urllib.error.HTTPError) -> str:
    """The body of an HTTP error answer, or ``""`` when it cannot be read."""
    try:
        return _decode(exc.read())
    except (OSError, http.client.HTTPException):
        return ""


def _api_errors(body: str) -> list[str]:
    """The messages of a Quick Stats JSON error body (``{"error": ["unauthorized"]}``); ``[]`` for anything else."""
    text = body.lstrip()
    if not text.startswith("{"):
        return []
    try:
        doc = json.loads(text)
    except ValueError:
        return []
    err = doc.get("error") if isinstance(doc, dict) else None
    if err is None:
        return []
    return [str(m) for m in err] if isinstance(err, list) else [str(err)]


def _retry_after(value: str | None) -> float | None:
    """An HTTP ``Retry-After`` in seconds (capped at 60 s); ``None`` when absent or a date."""
    try:
        return min(max(float(value), 0.0), MAX_WAIT_S) if value is not None else None
    except ValueError:
        return None


def _reason(exc: BaseException) -> str:
    """Why a connection failed, in a few words (never the URL)."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return str(reason) or type(reason).__name__


def _snippet(body: str, n: int = 160) -> str:
    """The first ``n`` characters of a body, on one line."""
    text = " ".join(body.split())
    return repr(text[:n] + ("..." if len(text) > n else "")) if text else "an empty body"
