"""Streaming readers for load-test results: k6 NDJSON, both k6 summary formats, Locust CSV.

Every reader returns a :class:`~summit_platform.automation.perf.model.RunResult` with one
:class:`~summit_platform.automation.perf.model.EndpointStats` per endpoint. :func:`read_result` sniffs the
format, so callers never say which tool wrote a file; a file that is none of these raises
:class:`~summit_platform.automation.errors.UserError` saying what was expected.

k6 NDJSON (``k6 run --out json=FILE``, gzipped when the name ends in ``.gz``) is read line by
line with constant memory per endpoint: only ``http_req_duration`` and ``http_req_failed``
lines are parsed (a byte test skips the other ~80 % before any JSON work), and durations go
into a :class:`~summit_platform.automation.perf.digest.Digest`.

Every figure read is checked: latencies and counts are finite numbers >= 0, rates 0..1,
failures never more than requests, text cells in ASCII digits; a file cut short (gzip that
ends early, a last line with no newline that is not whole JSON) is refused, not read as far as
it goes. Any of these is a :class:`~summit_platform.automation.errors.UserError` naming the file, the line or
key, and what was found.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from summit_platform.automation import numbers, safe_io
from summit_platform.automation.errors import UserError
from summit_platform.automation.numbers import found
from summit_platform.automation.perf.digest import DEFAULT_EXACT_LIMIT, Digest
from summit_platform.automation.perf.model import (
    AGGREGATE,
    EndpointStats,
    RunResult,
    Threshold,
    split_endpoint,
)

EXPECTED = (
    "expected k6 NDJSON (k6 run --out json=FILE; lines like "
    '{"type":"Point","metric":"http_req_duration",...}), a k6 summary JSON '
    '(--summary-export or handleSummary, with a top-level "metrics" object) or a Locust '
    "--csv stats file (PREFIX_stats.csv, header 'Type,Name,Request Count,...')"
)
QUANTILES = (0.5, 0.9, 0.95, 0.99)
_DUR = b"http_req_duration"
_FAIL = b"http_req_failed"
_MAX_SUMMARY_BYTES = 64 * 1024 * 1024


class NotAResult(UserError):
    """The file is none of the kinds these readers take (the message says what they take);
    a caller that takes more kinds adds its own to the message. Any other UserError is a
    file of a known kind with bad content, and stands as it is."""


def _open_bytes(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb", buffering=1 << 20)


def resolve(path: str | Path) -> Path:
    """The file to read: ``path`` itself, or ``PATH_stats.csv`` for a Locust ``--csv`` prefix."""
    p = Path(path)
    if p.is_file():
        return p
    stats = Path(f"{p}_stats.csv")
    if stats.is_file():
        return stats
    if p.is_dir():
        raise NotAResult(f"expected a result file, found a folder ({EXPECTED})", source=str(path))
    raise NotAResult(f"no such result file ({EXPECTED})", source=str(path))


def read_result(path: str | Path, *, exact_limit: int = DEFAULT_EXACT_LIMIT) -> RunResult:
    """Read one result file of any supported kind."""
    p = resolve(path)
    try:
        with _open_bytes(p) as fh:
            head = fh.read(64 * 1024)
    except (OSError, EOFError, zlib.error) as err:
        raise NotAResult(f"cannot read ({err}); {EXPECTED}", source=str(p)) from None
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if not first:
        raise NotAResult(f"file is empty; {EXPECTED}", source=str(p))
    if first.replace('"', "").startswith("Type,Name"):
        return read_locust_csv(p)
    if first.replace('"', "").startswith("Timestamp,User Count"):
        raise UserError(
            "this is Locust's _stats_history.csv; pass PREFIX_stats.csv (or the --csv prefix)",
            source=str(p),
        )
    if first.startswith("{"):
        try:
            obj = json.loads(first)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and obj.get("type") in ("Metric", "Point") and "metric" in obj:
            return read_k6_ndjson(p, exact_limit=exact_limit)
        doc = _read_summary(p)
        if isinstance(doc, dict) and isinstance(doc.get("metrics"), dict):
            return read_k6_summary(doc, str(p))
    raise NotAResult(f"not a k6 or Locust result: {EXPECTED}; found {first[:60]!r}", source=str(p))


def _read_summary(p: Path) -> Any:
    """A whole-file JSON document (a k6 summary), read through the safe JSON reader, at most
    ``_MAX_SUMMARY_BYTES`` after decompression (a small .gz must not expand without bound)."""
    try:
        with _open_bytes(p) as fh:
            data = fh.read(_MAX_SUMMARY_BYTES + 1)
    except (OSError, EOFError, zlib.error) as err:
        raise NotAResult(f"cannot read ({err}); {EXPECTED}", source=str(p)) from None
    if len(data) > _MAX_SUMMARY_BYTES:
        raise NotAResult(
            f"a JSON document larger than {_MAX_SUMMARY_BYTES} bytes; {EXPECTED}", source=str(p)
        )
    try:
        return safe_io.load_json_text(safe_io.decode_utf8(data, str(p)), str(p))
    except UserError as err:
        raise NotAResult(f"{err.detail}; {EXPECTED}", source=str(p)) from None


class _Acc:
    """Per-endpoint accumulator for NDJSON samples."""

    __slots__ = ("digest", "fail_errors", "fail_points", "method", "tag_errors", "url")

    def __init__(self, method: str | None, url: str | None, exact_limit: int) -> None:
        self.digest = Digest(exact_limit)
        self.method = method
        self.url = url
        self.tag_errors = 0
        self.fail_points = 0
        self.fail_errors = 0

    @classmethod
    def from_line(cls, line: bytes, exact_limit: int) -> _Acc:
        """An accumulator for a new endpoint, with method and URL read from its first line."""
        rec = _parse_point(line)
        tags = {} if rec is _SKIP else rec[2]
        return cls(tags.get("method"), tags.get("url"), exact_limit)


def _endpoint_key(tags: dict[str, Any]) -> str:
    name = tags.get("name")
    if name:
        return str(name)
    return f"{tags.get('method', '')} {tags.get('url', '')}".strip() or "(unnamed)"


def _failed_by_tags(tags: dict[str, Any]) -> bool:
    exp = tags.get("expected_response")
    if exp is not None:
        return str(exp) != "true"
    status = str(tags.get("status", ""))
    return not (status[:1] in ("1", "2", "3") and len(status) == 3)


_HIT = re.compile(rb"http_req_(?:duration|failed)")
_CHUNK = 8 << 20
_POINT = b'"type":"Point"'
_METRIC_DECL = b'"type":"Metric"'
_METRIC = re.compile(rb'"metric":"http_req_(duration|failed)"')
_VALUE = re.compile(rb'"value":(-?\d[\d.eE+-]*)[,}]')
_NAME = re.compile(rb'"name":"([^"]*)"')
_EXPECTED_TRUE = b'"expected_response":"true"'
_EXPECTED = b'"expected_response":'
_STATUS = re.compile(rb'"status":"(\d*)"')
_SKIP = object()


class _BadLine(Exception):
    """A relevant line that is not valid k6 NDJSON. The message follows "line N"; the scan
    sets ``offset`` (where the line starts in its chunk) and the reader turns it into a
    :class:`~summit_platform.automation.errors.UserError` with the file and the line number."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.offset = 0


def _parse_point(line: bytes) -> Any:
    """(is_duration, value, tags) through ``json.loads``, or _SKIP: the path for any layout
    the compact fast path in :func:`_scan` does not take, and for any line it doubts. Raises
    :class:`_BadLine` for a line that is not JSON, a point of the wrong shape, or a value out
    of range (a duration is a finite number of ms >= 0; ``http_req_failed`` is 0 or 1)."""
    try:
        obj = json.loads(line)
    except ValueError as err:  # UnicodeDecodeError included
        raise _BadLine(f" is not JSON ({err}); expected k6 NDJSON") from None
    except RecursionError:
        raise _BadLine(" is not JSON (nested too deeply); expected k6 NDJSON") from None
    if not isinstance(obj, dict) or obj.get("type") != "Point":
        return _SKIP
    metric = obj.get("metric")
    if metric not in ("http_req_duration", "http_req_failed"):
        return _SKIP
    data = obj.get("data")
    if not isinstance(data, dict):
        raise _BadLine(f": data must be an object, found {found(data)}")
    value = data.get("value")
    high = math.inf if metric == "http_req_duration" else 1.0
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= high
        or math.isinf(value)
    ):
        what = "a finite number of ms >= 0" if high == math.inf else "0 or 1"
        raise _BadLine(f": data.value must be {what}, found {found(value)}")
    tags = data.get("tags") or {}
    if not isinstance(tags, dict):
        raise _BadLine(f": data.tags must be an object, found {found(tags)}")
    return metric == "http_req_duration", float(value), {k: str(v) for k, v in tags.items()}


def _compact_failed(line: bytes) -> bool:
    """A compact-layout duration line without ``expected_response="true"``: a failure when
    the tag has another value; without the tag, the status decides."""
    if _EXPECTED in line:
        return True
    st = _STATUS.search(line)
    return _failed_by_tags({"status": st.group(1).decode() if st else ""})


def _add_parsed(accs: dict[Any, _Acc], line: bytes, exact_limit: int) -> None:
    """Count one relevant line that is not in k6's compact layout (``json.loads``)."""
    rec = _parse_point(line)
    if rec is _SKIP:
        return
    is_dur, value, tags = rec
    key = _endpoint_key(tags).encode()
    acc = accs.get(key)
    if acc is None:
        acc = accs[key] = _Acc(tags.get("method"), tags.get("url"), exact_limit)
    if is_dur:
        acc.digest.add(value)
        if _failed_by_tags(tags):
            acc.tag_errors += 1
    else:
        acc.fail_points += 1
        if value:
            acc.fail_errors += 1


def _scan(body: bytes, accs: dict[Any, _Acc], exact_limit: int) -> None:
    """Count every relevant line of ``body`` (whole lines only) into ``accs``.

    The regex engine finds the relevant lines; one in k6's compact layout is read with a few
    targeted regexes right here (this loop is the reader's hot path: no call per line on it),
    anything else goes through :func:`_add_parsed`. Raises :class:`_BadLine`."""
    pos = 0
    inf = math.inf
    for hit in _HIT.finditer(body):
        at = hit.start()
        if at < pos:
            continue  # a second hit on a line already read
        start = body.rfind(b"\n", 0, at) + 1
        end = body.find(b"\n", at)
        if end < 0:
            end = len(body)
        pos = end
        line = body[start:end]
        m = v = n = None
        # The fast path takes only whole compact lines (a line that does not end with its
        # closing brace, or whose value is no plain number in range, is read by json.loads).
        if _POINT in line and b"\\" not in line and line.endswith(b"}"):
            m, v, n = _METRIC.search(line), _VALUE.search(line), _NAME.search(line)
        if v is None:
            value = -1.0
        else:
            try:
                value = float(v.group(1))
            except ValueError:  # "1e5-3": the regex is loose, float() is not
                value = -1.0
        if m is None or n is None or not 0.0 <= value < inf:
            if _METRIC_DECL in line and _POINT not in line:
                continue
            try:
                _add_parsed(accs, line, exact_limit)
            except _BadLine as err:
                err.offset = start
                raise
            continue
        # Fast path: the endpoint key stays bytes until the end.
        key: Any = n.group(1)
        acc = accs.get(key)
        if acc is None:
            try:
                acc = accs[key] = _Acc.from_line(line, exact_limit)
            except _BadLine as err:
                err.offset = start
                raise
        if m.group(1) == b"duration":
            acc.digest.add(value)
            if _EXPECTED_TRUE not in line and _compact_failed(line):
                acc.tag_errors += 1
        elif value <= 1.0:
            acc.fail_points += 1
            if value:
                acc.fail_errors += 1
        else:  # a rate of 3: json.loads' path says why, with the line
            try:
                _add_parsed(accs, line, exact_limit)
            except _BadLine as err:
                err.offset = start
                raise


def _whole_lines(fh: IO[bytes]) -> Iterator[tuple[bytes, bool]]:
    """The file in chunks of about ``_CHUNK`` bytes, each cut after its last newline (the
    rest is carried into the next chunk), as ``(body, False)``; then whatever follows the last
    newline as ``(tail, True)``: a last line with no newline, which may have been cut short."""
    carry = b""
    while True:
        chunk = fh.read(_CHUNK)
        if not chunk:
            if carry:
                yield carry, True
            return
        buf = carry + chunk
        cut = buf.rfind(b"\n") + 1
        body, carry = buf[:cut], buf[cut:]
        if body:
            yield body, False


def _check_tail(tail: bytes) -> None:
    """A last line without a newline must be whole JSON (k6 ends every line with one, so a
    file that stops mid-line was cut short: its last point must not be read as it stands)."""
    if not tail.strip():
        return
    try:
        json.loads(tail)
    except (ValueError, RecursionError):
        raise _BadLine(
            " has no newline at the end and is not complete JSON: the file looks truncated"
        ) from None


def _endpoint_stats(accs: Mapping[Any, _Acc], source: str) -> list[EndpointStats]:
    """One :class:`EndpointStats` per endpoint that has durations, sorted by name. A name
    that is not UTF-8 or more failures than requests is an error naming ``source``."""
    endpoints = []
    for raw_key, acc in accs.items():
        d = acc.digest
        if d.count == 0:
            continue  # http_req_failed without durations: nothing to budget
        key = raw_key.decode("utf-8") if isinstance(raw_key, bytes) else raw_key
        errors = acc.fail_errors if acc.fail_points else acc.tag_errors
        if errors > d.count:
            raise UserError(
                f"endpoint {key[:60]!r}: {errors} failed requests but only {d.count} durations",
                source=source,
            )
        p50, p90, p95, p99 = d.quantiles(QUANTILES)
        _, path_ = split_endpoint(key, acc.url)
        endpoints.append(
            EndpointStats(
                name=key,
                method=acc.method,
                path=path_,
                count=d.count,
                errors=errors,
                p50_ms=p50,
                p90_ms=p90,
                p95_ms=p95,
                p99_ms=p99,
                max_ms=d.max,
                digest=d,
            )
        )
    endpoints.sort(key=lambda e: e.name)
    return endpoints


def read_k6_ndjson(path: Path, *, exact_limit: int = DEFAULT_EXACT_LIMIT) -> RunResult:
    """Per-endpoint statistics from ``k6 run --out json=FILE`` (plain or .gz).

    Endpoints are grouped by the ``name`` tag (k6 sets it to the URL unless the script names
    the request), else by method and URL. Errors come from ``http_req_failed`` points when the
    file has them (k6 >= 0.31), else from the ``expected_response``/``status`` tags.

    The file is read in 8 MB chunks of whole lines (:func:`_whole_lines`) and the regex
    engine finds the few relevant lines (about 5 of every 6 lines of a k6 file are other
    metrics), so Python-level work is per relevant line (:func:`_scan`). A relevant line in
    k6's compact layout (either key order) is read with a few targeted regexes; anything else
    (whitespace, escapes, no name tag) goes through ``json.loads``. Memory: one chunk plus one
    digest per endpoint.
    """
    accs: dict[Any, _Acc] = {}
    lines_before = 0
    try:
        with _open_bytes(path) as fh:
            for body, tail in _whole_lines(fh):
                try:
                    if tail:
                        _check_tail(body)
                    _scan(body, accs, exact_limit)
                except _BadLine as err:
                    lineno = lines_before + body.count(b"\n", 0, err.offset) + 1
                    raise UserError(f"line {lineno}{err}", source=str(path)) from None
                lines_before += body.count(b"\n")
    except (OSError, EOFError, zlib.error) as err:
        raise UserError(f"cannot read ({err})", source=str(path)) from None
    try:
        endpoints = _endpoint_stats(accs, str(path))
    except UnicodeDecodeError as err:
        raise UserError(
            f"an endpoint name is not valid UTF-8 (found 0x{err.object[err.start]:02x})",
            source=str(path),
        ) from None
    return RunResult(source=str(path), kind="k6-ndjson", endpoints=tuple(endpoints))


def _parse_submetric(key: str) -> tuple[str, dict[str, str]]:
    """``'http_req_duration{name:GET /x,method:GET}'`` -> (base, {tag: value})."""
    if "{" not in key or not key.endswith("}"):
        return key, {}
    base, _, inner = key[:-1].partition("{")
    tags: dict[str, str] = {}
    for part in inner.split(","):
        k, sep, v = part.partition(":")
        if sep:
            tags[k.strip()] = v.strip()
    return base, tags


class _Stats:
    """One summary metric's statistics and where they sit in the file (for messages)."""

    __slots__ = ("source", "values", "where")

    def __init__(self, values: dict[str, Any], source: str, where: str) -> None:
        self.values, self.source, self.where = values, source, where

    def get(
        self, *keys: str, low: float = 0.0, high: float | None = None, integer: bool = False
    ) -> float | None:
        """The first of ``keys`` present, checked (finite, in range); None when none is."""
        for k in keys:
            v = self.values.get(k)
            if v is not None:
                where = f"{self.where}.{k}"
                return numbers.number(
                    v, source=self.source, key=where, low=low, high=high, integer=integer
                )
        return None


def _summary_thresholds(
    mkey: str, mval: dict[str, Any], nested: bool, source: str
) -> list[Threshold]:
    raw = mval.get("thresholds") or {}
    if not isinstance(raw, dict):
        raise UserError(
            f"expected an object of threshold -> result, found {found(raw)}",
            source=source,
            key=f"metrics.{mkey}.thresholds",
        )
    out = []
    for expr, res in raw.items():
        if nested and isinstance(res, dict) and isinstance(res.get("ok"), bool):
            out.append(Threshold(mkey, expr, res["ok"]))
        elif not nested and isinstance(res, bool):
            out.append(Threshold(mkey, expr, not res))  # true = crossed = failed
    return out


def _summary_counts(fv: _Stats | None, rv: _Stats | None) -> tuple[int | None, int | None]:
    """(requests, failed requests) from ``http_req_failed`` and ``http_reqs``."""
    count: int | None = None
    errors: int | None = None
    if fv is not None:
        passes = fv.get("passes", integer=True)
        fails = fv.get("fails", integer=True)
        rate = fv.get("rate", "value", high=1.0)
        reqs = rv.get("count", integer=True) if rv is not None else None
        if passes is not None and fails is not None:
            # A k6 Rate counts non-zero samples as "passes": for http_req_failed that is
            # the number of failed requests.
            count, errors = int(passes + fails), int(passes)
        elif rate is not None and reqs is not None:
            count, errors = int(reqs), round(rate * reqs)
    if count is None and rv is not None:
        reqs = rv.get("count", integer=True)
        count = int(reqs) if reqs is not None else None
    return count, errors


def read_k6_summary(doc: dict[str, Any], source: str) -> RunResult:
    """Per-endpoint statistics from either k6 summary format.

    ``--summary-export`` puts the stats flat on each metric and maps each threshold to
    ``true`` when it was *crossed*; handleSummary data nests ``values`` and writes
    ``thresholds.{expr}.ok`` (true when it *held*). Both normalise to
    :class:`~summit_platform.automation.perf.model.Threshold` ``passed``. Per-endpoint figures come from
    submetrics tagged by ``name`` (``http_req_duration{name:GET /x}``); the untagged metric
    becomes the :data:`~summit_platform.automation.perf.model.AGGREGATE` endpoint. Every statistic used must
    be a finite number >= 0 (counts whole, rates 0..1): anything else names its key.
    """
    metrics = doc["metrics"]
    nested = any(
        isinstance(m, dict) and isinstance(m.get("values"), dict) for m in metrics.values()
    )
    kind = "k6-handle-summary" if nested else "k6-summary-export"
    stats: dict[str, dict[str, _Stats]] = {"durations": {}, "failed": {}, "reqs": {}}
    thresholds: list[Threshold] = []
    for mkey, mval in metrics.items():
        if not isinstance(mval, dict):
            raise UserError(
                f"expected an object of statistics, found {found(mval)}",
                source=source,
                key=f"metrics.{mkey}",
            )
        values = mval.get("values") if nested else mval
        if not isinstance(values, dict):
            values = {}
        thresholds += _summary_thresholds(mkey, mval, nested, source)
        base, tags = _parse_submetric(mkey)
        if tags and "name" not in tags:
            continue  # e.g. {expected_response:true}: a filter, not an endpoint
        group = {"http_req_duration": "durations", "http_req_failed": "failed"}.get(base)
        group = group or ("reqs" if base == "http_reqs" else None)
        if group is not None:
            where = f"metrics.{mkey}.values" if nested else f"metrics.{mkey}"
            stats[group][tags.get("name", AGGREGATE)] = _Stats(values, source, where)
    endpoints = []
    for name, v in stats["durations"].items():
        count, errors = _summary_counts(stats["failed"].get(name), stats["reqs"].get(name))
        if count is not None and errors is not None and errors > count:
            raise UserError(
                f"{errors} failed requests but only {count} requests", source=source, key=v.where
            )
        method, path = split_endpoint(name) if name != AGGREGATE else (None, None)
        endpoints.append(
            EndpointStats(
                name=name,
                method=method,
                path=path,
                count=count,
                errors=errors,
                p50_ms=v.get("med", "p(50)"),
                p90_ms=v.get("p(90)"),
                p95_ms=v.get("p(95)"),
                p99_ms=v.get("p(99)"),
                max_ms=v.get("max"),
            )
        )
    endpoints.sort(key=lambda e: e.name)
    return RunResult(source, kind, tuple(endpoints), tuple(thresholds))


_LOCUST_REQUIRED = ("Type", "Name", "Request Count", "Failure Count", "95%")


def read_locust_csv(path: Path) -> RunResult:
    """Per-endpoint statistics from Locust's ``--csv PREFIX`` stats file (``PREFIX_stats.csv``).

    Locust's percentiles are its own (response times rounded to 2 significant digits above
    100 ms); the ``Aggregated`` row becomes the :data:`~summit_platform.automation.perf.model.AGGREGATE`
    endpoint. Read by the safe CSV reader (invalid UTF-8 named by byte offset, malformed rows
    by line); every figure is a decimal in ASCII digits >= 0 (``inf``, ``nan`` and other
    scripts' digits refused), counts are whole and failures at most the requests.
    """
    rows = safe_io.read_csv_rows(path)
    missing = [c for c in _LOCUST_REQUIRED if rows and c not in rows[0]]
    if missing:
        raise NotAResult(f"Locust stats CSV lacks columns {missing}; {EXPECTED}", source=str(path))
    endpoints = []
    for rowno, row in enumerate(rows, start=2):

        def num(
            col: str, integer: bool = False, row: dict[str, str] = row, rowno: int = rowno
        ) -> float | None:
            raw = (row.get(col) or "").strip()
            if raw in ("", "N/A"):
                return None
            return numbers.parse_decimal(
                raw, source=str(path), key=f"line {rowno}: {col}", integer=integer
            )

        name = (row.get("Name") or "").strip()
        rtype = (row.get("Type") or "").strip()
        if name == "Aggregated" and not rtype:
            name = AGGREGATE
        count, fails = num("Request Count", True), num("Failure Count", True)
        if count is not None and fails is not None and fails > count:
            raise UserError(
                f"{fails:g} failures but only {count:g} requests",
                source=str(path),
                key=f"line {rowno}: Failure Count",
            )
        _, path_ = split_endpoint(name) if name != AGGREGATE else (None, None)
        endpoints.append(
            EndpointStats(
                name=name,
                method=(rtype.upper() or None) if name != AGGREGATE else None,
                path=path_,
                count=int(count) if count is not None else None,
                errors=int(fails) if fails is not None else None,
                p50_ms=num("50%"),
                p90_ms=num("90%"),
                p95_ms=num("95%"),
                p99_ms=num("99%"),
                max_ms=num("Max Response Time"),
            )
        )
    return RunResult(str(path), "locust-csv", tuple(endpoints))
