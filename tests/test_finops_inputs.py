"""`summit finops` on bad input (issue: bad input never crashes, never passes, never leaks).

Each reproducer of the issue has a test named for it: `estimate --base` with a non-numeric,
null or NaN base (and bad bytes, odd shapes) and `--usage` files of every odd kind exit 2
naming the file and key, before the plan and with no report written; reports are written
only after every one of them is computed; `reconcile` refuses a non-numeric or NaN cost, a
`--opencost` that is not a URL and OpenCost answers of odd shapes (a loopback server answers
byte for byte), sends `user:pass@` as basic auth and never prints it; a webhook URL is never
printed (flag or environment); `refresh-prices` replaces its table atomically under a lock and
refuses odd Price List answers, changing nothing. Property tests generate such inputs per
surface (finops-base, finops-usage, opencost-answer, price-list-answer)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fuzz
import pytest
from hypothesis import given
from hypothesis import strategies as st
from loopback import AnswerServer

from summit_platform.automation import safe_io
from summit_platform.automation.errors import CheckFailed
from summit_platform.automation.finops import alerts, prices
from summit_platform.automation.finops import estimate as est_mod
from summit_platform.automation.finops.cli import WEBHOOK_ENV

ROOT = Path(__file__).resolve().parents[1]
SECRET = "T0SECRET/B0SECRET/xoxb-very-secret-token"

ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(max_value=-1),
    st.integers(min_value=10**400, max_value=10**401),
    st.floats(max_value=-1e-9, allow_infinity=True, allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(["\u0663", "\uff12\uff15", "1e999", "NaN", "Infinity", "-0.5", ""]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
"""Values that are never a cost: wrong kinds, negative, beyond a float, text of any digits."""


def _estimate(tmp: Path, *extra: str, surface: str = "finops-base") -> fuzz.Outcome:
    argv = ["finops", "estimate", "-s", "dev", "-C", str(ROOT)]
    argv += ["--json", str(tmp / "estimate.json"), "--markdown", str(tmp / "estimate.md")]
    return fuzz.run(surface, [*argv, *extra], watch=[tmp])


# -- estimate --base -------------------------------------------------------------------------

BASES = {
    "non-numeric total": (b'{"resources": [], "total_hourly": "abc"}', "total_hourly"),
    "null total": (b'{"resources": [], "total_hourly": null}', "total_hourly"),
    "NaN total": (b'{"resources": [], "total_hourly": NaN}', "NaN"),
    "NaN hourly": (b'{"resources": [{"urn": "u", "hourly": NaN}]}', "NaN"),
    "Infinity hourly": (b'{"resources": [{"urn": "u", "hourly": Infinity}]}', "Infinity"),
    "overflowing hourly": (b'{"resources": [{"urn": "u", "hourly": 1e999}]}', "finite"),
    "huge integer hourly": (
        b'{"resources": [{"urn": "u", "hourly": 1' + b"0" * 400 + b"}]}",
        "resources[0].hourly",
    ),
    "negative hourly": (b'{"resources": [{"urn": "u", "hourly": -0.5}]}', "resources[0].hourly"),
    "text hourly": (b'{"resources": [{"urn": "u", "hourly": "0.5"}]}', "resources[0].hourly"),
    "null document": (b"null", "resources"),
    "a list": (b"[1, 2]", "resources"),
    "urn not text": (b'{"resources": [{"urn": 5, "hourly": 1}]}', "resources[0]"),
    "urn twice": (
        b'{"resources": [{"urn": "u", "hourly": 1}, {"urn": "u", "hourly": 2}]}',
        "resources[1].urn",
    ),
    "duplicate key": (b'{"resources": [], "resources": []}', "duplicate key"),
    "invalid UTF-8": (b'{"resources": [], "note": "\xff\xfe"}', "not valid UTF-8 at byte"),
    "truncated": (b'{"resources": [{"urn": "u", "hour', "not valid JSON"),
    "empty": (b"", "not valid JSON"),
}


@pytest.mark.parametrize("case", BASES, ids=list(BASES))
def test_estimate_base_non_numeric_null_or_nan_exits_2_and_writes_nothing(
    tmp_path: Path, case: str
) -> None:
    data, why = BASES[case]
    base = tmp_path / "base.json"
    base.write_bytes(data)
    out = _estimate(tmp_path, "--base", str(base))
    fuzz.assert_clean(out, names=str(base))
    assert why in out.err and out.err.count("\n") == 1, out.err


def test_estimate_reports_are_written_only_after_every_report_is_computed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The JSON report is computed first; a failure computing the Markdown (after the plan)
    must leave no JSON behind."""

    def broken(*_a: Any, **_k: Any) -> str:
        raise ValueError("the Markdown renderer broke")

    monkeypatch.setattr(est_mod, "to_markdown", broken)
    out = _estimate(tmp_path)
    assert out.code == 70 and "the Markdown renderer broke" in out.err
    assert list(tmp_path.iterdir()) == []


@fuzz.surface_settings()
@given(
    where=st.sampled_from(["total_hourly", "hourly", "urn", "resources", "document"]),
    value=ODD,
)
@pytest.mark.fuzz
def test_generated_bad_bases_exit_2_before_the_plan(
    tmp_path_factory: pytest.TempPathFactory, where: str, value: Any
) -> None:
    tmp = tmp_path_factory.mktemp("base")
    doc: Any = {"resources": [{"urn": "urn:a", "name": "a", "hourly": 0.5}], "total_hourly": 0.5}
    if where == "total_hourly":
        doc["total_hourly"] = value
    elif where == "hourly":
        doc["resources"][0]["hourly"] = value
    elif where == "urn":
        doc["resources"][0]["urn"] = value if not isinstance(value, str) else None
    elif where == "resources":
        doc["resources"] = value if not isinstance(value, list) or value else None
    else:
        doc = value if not isinstance(value, dict) else []
    base = tmp / "base.json"
    # Python's json writes NaN/Infinity for floats: the safe reader refuses both, as it must.
    base.write_text(json.dumps(doc))
    fuzz.assert_clean(_estimate(tmp, "--base", str(base)), names=str(base))


# -- estimate --usage --------------------------------------------------------------------------

USAGE = {
    "invalid UTF-8": (b"defaults:\n  nodes: \xff3\n", "not valid UTF-8"),
    "NaN": (b"defaults: {nodes: .nan}\n", "finite"),
    "infinity": (b"defaults: {nodes: -.inf}\n", "finite"),
    "negative": (b"defaults: {nodes: -1}\n", "defaults.nodes"),
    "fraction above 1": (b"defaults: {activeFraction: 2}\n", "defaults.activeFraction"),
    "text": (b"defaults: {nodes: '3'}\n", "defaults.nodes"),
    "Arabic-Indic digits": ("defaults: {nodes: \u0663}\n".encode(), "defaults.nodes"),
    "resources a list": (b"resources: [1, 2]\n", "resources"),
    "resource not a mapping": (b"resources: {web: 5}\n", "resources.web"),
    "unknown key": (b"defaults: {cpu: 1}\n", "defaults.cpu"),
    "top-level unknown": (b"extra: 1\n", "extra"),
    "non-string key": (b"1: 2\n", "keys must be strings"),
    "null key": (b"~: 2\n", "keys must be strings"),
    "duplicate key": (b"defaults: {}\ndefaults: {}\n", "duplicate key"),
    "a list": (b"- 1\n- 2\n", "expected a mapping"),
    "alias bomb": (
        b"a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
        + b"".join(
            f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n".encode()
            for p, c in zip("abcdefg", "bcdefgh", strict=True)
        ),
        "aliases expand",
    ),
    "JSON with NaN": (b'{"defaults": {"nodes": NaN}}', "defaults.nodes"),
}


@pytest.mark.parametrize("case", USAGE, ids=list(USAGE))
def test_estimate_usage_file_of_any_odd_kind_exits_2_and_writes_nothing(
    tmp_path: Path, case: str
) -> None:
    data, why = USAGE[case]
    usage = tmp_path / "usage.yaml"
    usage.write_bytes(data)
    out = _estimate(tmp_path, "--usage", str(usage), surface="finops-usage")
    fuzz.assert_clean(out, names=str(usage))
    assert why in out.err, out.err


@fuzz.surface_settings()
@given(
    where=st.sampled_from(["defaults", "resource", "resources", "document"]),
    key=st.sampled_from(["nodes", "lcu", "cpuMillis", "activeFraction", "storageGb"]),
    value=ODD,
)
@pytest.mark.fuzz
def test_generated_bad_usage_files_exit_2_before_the_plan(
    tmp_path_factory: pytest.TempPathFactory, where: str, key: str, value: Any
) -> None:
    tmp = tmp_path_factory.mktemp("usage")
    doc: Any
    if where == "defaults":
        doc = {"defaults": {key: value}}
    elif where == "resource":
        doc = {"resources": {"gateway": {key: value}}}
    elif where == "resources":
        doc = {"resources": value if not isinstance(value, dict) or value else [1]}
    else:
        doc = value if not isinstance(value, dict) or value else [1]
    usage = tmp / "usage.json"
    usage.write_text(json.dumps(doc))
    if doc is None or doc == {"resources": None}:
        return  # an empty usage file (or section) means "no observations": not bad input
    out = _estimate(tmp, "--usage", str(usage), surface="finops-usage")
    fuzz.assert_clean(out, names=str(usage))


# -- webhooks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"hooks.slack.com/services/{SECRET}",
        f"https://hooks.slack.com:port/services/{SECRET}",
        f"https://hooks.slack.com/services/{SECRET} trailing",
        f"ftp://hooks.slack.com/services/{SECRET}",
        f"https://hooks.slack.com/services/{SECRET}\n",
    ],
)
@pytest.mark.parametrize("via", ["--webhook", "env"])
def test_estimate_webhook_that_is_no_url_exits_2_and_is_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, via: str
) -> None:
    if via == "env":
        monkeypatch.setenv(WEBHOOK_ENV, url)
        out = _estimate(tmp_path)
        fuzz.assert_clean(out, names=f"${WEBHOOK_ENV}")
    else:
        monkeypatch.delenv(WEBHOOK_ENV, raising=False)
        out = _estimate(tmp_path, "--webhook", url)
        fuzz.assert_clean(out, names="--webhook")
    assert "SECRET" not in out.text and "xoxb" not in out.text


def test_webhook_failures_never_print_the_secret_path() -> None:
    from obs_helpers import free_port

    payload = alerts.gc_payload(["pr-1"], "24h")
    with AnswerServer() as hook:
        hook.answer(500, b"{}")
        for url in (
            f"http://127.0.0.1:{free_port()}/services/{SECRET}",  # nobody listens
            f"{hook.url}/services/{SECRET}",  # HTTP 500
            f"hxxp://hooks.slack.com/services/{SECRET}",  # urllib: unknown url type
        ):
            with pytest.raises(CheckFailed) as err:
                alerts.post(url, payload)
            assert "SECRET" not in str(err.value) and "xoxb" not in str(err.value)
            assert "webhook" in str(err.value)


# -- reconcile ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def opencost() -> Iterator[AnswerServer]:
    with AnswerServer() as server:
        yield server


def allocation(**per_ns: Any) -> dict[str, Any]:
    """OpenCost's documented shape; each keyword is a namespace -> fields over one day."""
    return {
        "code": 200,
        "data": [
            {ns: {"name": ns, "minutes": 1440, "totalCost": 2.4, **f} for ns, f in per_ns.items()}
        ],
    }


def _reconcile(url: str, tmp: Path, *extra: str) -> fuzz.Outcome:
    argv = ["finops", "reconcile", "--opencost", url, "-s", "prod", "-C", str(ROOT)]
    argv += ["--json", str(tmp / "drift.json"), *extra]
    return fuzz.run("opencost-answer", argv, watch=[tmp])


def _answer_bytes(doc: Any) -> bytes:
    return json.dumps(doc).encode()


@pytest.mark.parametrize("cost", ["abc", "12,5", "\u0661\u0662", True, None, [1], {"v": 1}])
def test_reconcile_non_numeric_cost_exits_2(
    opencost: AnswerServer, tmp_path: Path, cost: Any
) -> None:
    opencost.answer(200, _answer_bytes(allocation(web={"totalCost": cost})))
    out = _reconcile(opencost.url, tmp_path)
    fuzz.assert_clean(out, names="data[0].web.totalCost")


@pytest.mark.parametrize(
    "body",
    [
        b'{"code": 200, "data": [{"web": {"minutes": 1440, "totalCost": NaN}}]}',
        b'{"code": 200, "data": [{"web": {"minutes": 1440, "totalCost": Infinity}}]}',
        _answer_bytes(allocation(web={"totalCost": "NaN"})),
        _answer_bytes(allocation(web={"minutes": float("nan")})),
    ],
    ids=["bare NaN", "bare Infinity", "NaN as text", "NaN minutes"],
)
def test_reconcile_nan_cost_exits_2_and_writes_no_json(
    opencost: AnswerServer, tmp_path: Path, body: bytes
) -> None:
    opencost.answer(200, body)
    out = _reconcile(opencost.url, tmp_path)
    fuzz.assert_clean(out, names="OpenCost answer")
    assert not (tmp_path / "drift.json").exists()


def test_reconcile_json_is_strict_json(opencost: AnswerServer, tmp_path: Path) -> None:
    """A run that compares (one namespace not in the estimate, one far off) writes JSON the
    strict reader takes: no NaN, no Infinity, whatever the figures."""
    opencost.answer(
        200, _answer_bytes(allocation(ghost={"totalCost": 1e300}, web={"totalCost": 1e-300}))
    )
    argv = ["finops", "reconcile", "--opencost", opencost.url, "-s", "prod", "-C", str(ROOT)]
    out = fuzz.run("opencost-answer", [*argv, "--json", str(tmp_path / "drift.json")])
    fuzz.assert_clean(out, allowed=(0, 1))
    doc = safe_io.load_json(tmp_path / "drift.json")
    assert any(r["namespace"] == "ghost" and r["flagged"] for r in doc["namespaces"])


@pytest.mark.parametrize(
    "url",
    [
        "not-a-url",
        "opencost.opencost:9003",
        "ftp://opencost:9003",
        "http://opencost:port",
        "http://open cost:9003",
        "http://opencost:9003/?window=7d",
        "http://opencost:9003\n",
        "http://",
    ],
)
def test_reconcile_opencost_not_a_url_exits_2(tmp_path: Path, url: str) -> None:
    fuzz.assert_clean(_reconcile(url, tmp_path), names="--opencost")


SHAPES = {
    "a list": b"[1, 2]",
    "null": b"null",
    "data null": b'{"code": 200, "data": null}',
    "data of numbers": b'{"code": 200, "data": [1]}',
    "allocation without totalCost": b'{"code": 200, "data": [{"web": {"minutes": 1440}}]}',
    "allocation a list": b'{"code": 200, "data": [{"web": [1]}]}',
    "name not text": _answer_bytes(allocation(web={"name": 5})),
    "minutes text": _answer_bytes(allocation(web={"minutes": "1440"})),
    "negative cost": _answer_bytes(allocation(web={"totalCost": -3})),
    "huge integer cost": b'{"code": 200, "data": [{"web": {"minutes": 1, "totalCost": 1'
    + b"0" * 500
    + b"}}]}",
    "code 500": b'{"code": 500, "data": []}',
    "not JSON": b"<html>502 Bad Gateway</html>",
    "not UTF-8": b'{"code": 200, "data": [{"w\xffb": {}}]}',
    "truncated": _answer_bytes(allocation(web={}))[:-7],
    "duplicate key": b'{"code": 200, "data": [], "data": []}',
}


@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_reconcile_opencost_answer_of_an_odd_shape_exits_2(
    opencost: AnswerServer, tmp_path: Path, shape: str
) -> None:
    opencost.answer(200, SHAPES[shape])
    fuzz.assert_clean(_reconcile(opencost.url, tmp_path), names="OpenCost answer")


@pytest.mark.parametrize("status", [401, 404, 500])
def test_reconcile_http_error_exits_2(opencost: AnswerServer, tmp_path: Path, status: int) -> None:
    opencost.answer(status, b"{}")
    out = _reconcile(opencost.url, tmp_path)
    fuzz.assert_clean(out, names="--opencost")
    assert f"HTTP {status}" in out.err


def test_reconcile_credentials_are_sent_as_basic_auth_and_never_printed(
    opencost: AnswerServer, tmp_path: Path
) -> None:
    from obs_helpers import free_port

    opencost.answer(200, b"[]")
    url = f"http://carol:pa55w0rd@127.0.0.1:{opencost.port}"
    out = _reconcile(url, tmp_path)
    fuzz.assert_clean(out, names="OpenCost answer")
    token = base64.b64encode(b"carol:pa55w0rd").decode()
    assert opencost.seen[0].headers.get("Authorization") == f"Basic {token}"
    assert opencost.seen[0].path.startswith("/allocation/compute?window=1d")
    assert "pa55w0rd" not in out.text and "carol" not in out.text
    assert f"http://***@127.0.0.1:{opencost.port}" in out.err
    gone = f"http://carol:pa55w0rd@127.0.0.1:{free_port()}?token=abc"
    out = _reconcile(gone, tmp_path)
    fuzz.assert_clean(out, names="--opencost")
    assert "pa55w0rd" not in out.text and "token=abc" not in out.text


@pytest.mark.parametrize("threshold", ["nan", "inf", "-inf", "0", "-0.5"])
def test_reconcile_threshold_must_be_finite_and_positive(tmp_path: Path, threshold: str) -> None:
    out = _reconcile("http://127.0.0.1:9", tmp_path, "--threshold", threshold)
    fuzz.assert_clean(out, names="--threshold")


@pytest.mark.parametrize("path", ["allocation", "/a b", "/x?y=1", "/\u0661", "//"])
def test_reconcile_api_path_must_be_a_plain_path(tmp_path: Path, path: str) -> None:
    out = _reconcile("http://127.0.0.1:9", tmp_path, "--api-path", path)
    fuzz.assert_clean(out, names="--api-path")


@st.composite
def odd_allocations(draw: st.DrawFn) -> bytes:
    """OpenCost answers that cannot be read as costs, by construction."""
    kind = draw(st.sampled_from(["figure", "name", "step", "bytes", "cut", "toplevel"]))
    if kind == "figure":
        field = draw(st.sampled_from(["totalCost", "minutes"]))
        return _answer_bytes(allocation(web={field: draw(ODD)}, api={}))
    if kind == "name":
        return _answer_bytes(
            allocation(web={"name": draw(ODD.filter(lambda v: bool(v) and not isinstance(v, str)))})
        )
    if kind == "step":
        step = draw(ODD.filter(lambda v: v is not None and not isinstance(v, dict)))
        return _answer_bytes({"code": 200, "data": [step]})
    if kind == "bytes":
        return b"\xff" + draw(st.binary(max_size=30))
    if kind == "cut":
        whole = _answer_bytes(allocation(web={}))
        return whole[: draw(st.integers(0, len(whole) - 1))]
    return _answer_bytes(draw(ODD.filter(lambda v: not isinstance(v, dict))))


@pytest.mark.fuzz
@fuzz.surface_settings()
@given(body=odd_allocations())
def test_generated_opencost_answers_exit_2_before_the_plan(
    opencost: AnswerServer, tmp_path_factory: pytest.TempPathFactory, body: bytes
) -> None:
    tmp = tmp_path_factory.mktemp("reconcile")
    opencost.answer(200, body)
    out = _reconcile(opencost.url, tmp)
    fuzz.assert_clean(out, names="OpenCost answer")


# -- refresh-prices ----------------------------------------------------------------------------


class FakePricing:
    """A Price List client double that gives the same answer to every ``get_products``."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls = 0

    def get_products(self, **_kw: Any) -> Any:
        self.calls += 1
        return self.answer


def product(usd: Any, **dim: Any) -> str:
    dimension = {"unit": "Hrs", "pricePerUnit": {"USD": usd}, **dim}
    return json.dumps(
        {"terms": {"OnDemand": {"SKU.A": {"priceDimensions": {"SKU.A.B": dimension}}}}}
    )


@pytest.fixture
def table(tmp_path: Path) -> Path:
    folder = tmp_path / "prices"
    folder.mkdir()
    path = folder / "aws_prices.json"
    path.write_text(
        json.dumps({"regions": {"us-east-1": {"ec2": {"m5.large": 0.09}, "rds": {}}}}) + "\n"
    )
    return path


def _refresh(
    table: Path, answer: Any, monkeypatch: pytest.MonkeyPatch, *extra: str
) -> tuple[fuzz.Outcome, FakePricing]:
    client = FakePricing(answer)
    monkeypatch.setattr(prices, "pricing_client", lambda: client)
    argv = ["finops", "refresh-prices", "--table", str(table), *extra]
    # The table must not change and no temp file may stay; the lock's sidecar file
    # (.aws_prices.json.lock) stays by design: the table's inode changes on every write.
    out = fuzz.run("price-list-answer", argv, watch=[table])
    leftovers = {p.name for p in table.parent.iterdir()} - {table.name, f".{table.name}.lock"}
    assert not leftovers, leftovers
    return out, client


def test_refresh_prices_replaces_the_table_atomically(
    table: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new file is renamed over the old (a reader holding the old one reads it whole), no
    temp file is left, and what is written is strict JSON."""
    before = table.stat().st_ino
    with table.open() as reader:
        out, client = _refresh(table, {"PriceList": [product("0.0960000000")]}, monkeypatch)
        assert json.loads(reader.read())["regions"]["us-east-1"]["ec2"]["m5.large"] == 0.09
    assert out.code == 0 and client.calls == 1, out.err
    assert table.stat().st_ino != before
    assert safe_io.load_json(table)["regions"]["us-east-1"]["ec2"]["m5.large"] == 0.096
    assert sorted(p.name for p in table.parent.iterdir()) == [".aws_prices.json.lock", table.name]


def test_refresh_prices_dry_run_changes_nothing(
    table: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, _ = _refresh(table, {"PriceList": [product("0.2")]}, monkeypatch, "--dry-run")
    assert out.code == 0 and out.changed == [] and '"m5.large": 0.2' in out.out, out.err
    assert [p.name for p in table.parent.iterdir()] == [table.name]  # not even a lock file


ANSWERS = {
    "answer null": None,
    "PriceList text": {"PriceList": "m5.large"},
    "item a number": {"PriceList": [5]},
    "item not JSON": {"PriceList": ['{"terms": ']},
    "item with NaN": {"PriceList": ['{"terms": NaN}']},
    "terms a list": {"PriceList": ['{"terms": []}']},
    "USD text": {"PriceList": [product("abc")]},
    "USD NaN": {"PriceList": [product("NaN")]},
    "USD Infinity": {"PriceList": [product("Infinity")]},
    "USD overflow": {"PriceList": [product("1e999")]},
    "USD negative": {"PriceList": [product("-0.096")]},
    "USD Arabic-Indic digits": {"PriceList": [product("\u0660\u066b\u0669")]},
    "USD a number": {"PriceList": [product(0.096)]},
    "dimension a list": {"PriceList": [product("0.1", pricePerUnit=[1])]},
}


@pytest.mark.parametrize("case", ANSWERS, ids=list(ANSWERS))
def test_refresh_prices_odd_answers_exit_2_and_change_nothing(
    table: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    out, client = _refresh(table, ANSWERS[case], monkeypatch)
    assert client.calls == 1
    fuzz.assert_clean(out, names="Price List API answer for us-east-1/ec2/m5.large")


@pytest.mark.parametrize(
    ("content", "names"),
    [
        (b'{"regions": {"us-east-1": {"ec2": {"m5.large": "\xff"}}}}', "not valid UTF-8"),
        (b'{"regions": {"us-east-1": {"ec2": {"m5.large": NaN}}}}', "NaN"),
        (b'{"regions": {"us-east-1": {"ec2": {"m5.large": "cheap"}}}}', "ec2.m5.large"),
        (b'{"regions": {"us-east-1": {"ec2": {"m5.large": -1}}}}', "ec2.m5.large"),
        (b'{"regions": ["us-east-1"]}', "regions"),
        (b'{"regions": {"us-east-1": {"rds": [1]}}}', "us-east-1.rds"),
        (b"[]", "expected an object"),
    ],
)
def test_refresh_prices_bad_table_exits_2_before_asking_aws(
    table: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, names: str
) -> None:
    table.write_bytes(content)
    out, client = _refresh(table, {"PriceList": []}, monkeypatch)
    fuzz.assert_clean(out, names=names)
    assert client.calls == 0


@pytest.mark.parametrize("region", ["us-east-1\n", "useast1", "us-east-\u0661", "*"])
def test_refresh_prices_region_flag_matches_in_full(
    table: Path, monkeypatch: pytest.MonkeyPatch, region: str
) -> None:
    out, client = _refresh(table, {"PriceList": []}, monkeypatch, "--region", region)
    fuzz.assert_clean(out, names="--region")
    assert client.calls == 0


ODD_USD = st.one_of(
    ODD,
    st.text(alphabet=st.characters(blacklist_categories=["Nd"]), min_size=1, max_size=6),
    st.sampled_from(["1.2.3", "0x1", "1_000", "+-1", "."]),
)


def _readable_price(v: Any) -> bool:
    """Whether ``v`` is a price the Price List API could really send (ASCII decimal >= 0)."""
    if v is None:
        return True
    try:
        return isinstance(v, str) and v.strip().isascii() and 0 <= float(v) < float("inf")
    except ValueError:
        return False


@st.composite
def odd_price_answers(draw: st.DrawFn) -> Any:
    """Price List answers with no readable price, by construction."""
    kind = draw(st.sampled_from(["usd", "item", "shape", "list"]))
    if kind == "usd":
        return {"PriceList": [product(draw(ODD_USD.filter(lambda v: not _readable_price(v))))]}
    if kind == "item":
        whole = product("0.1")
        # A product object without on-demand terms is a real answer; anything else is not.
        odd = ODD.filter(lambda v: not isinstance(v, dict))
        item = draw(st.one_of(st.just(whole[: draw(st.integers(0, len(whole) - 1))]), odd))
        return {"PriceList": [item if item not in ("", None) else "{"]}
    if kind == "shape":
        terms = draw(ODD.filter(lambda v: v is not None and not isinstance(v, dict)))
        return {"PriceList": [json.dumps({"terms": terms})]}
    # An answer that is not an object (one without PriceList is an empty answer).
    return draw(ODD.filter(lambda v: v is not None and not isinstance(v, list | dict)))


@pytest.mark.fuzz
@fuzz.surface_settings()
@given(answer=odd_price_answers())
def test_generated_price_list_answers_exit_2_and_change_nothing(
    tmp_path_factory: pytest.TempPathFactory, answer: Any
) -> None:
    folder = tmp_path_factory.mktemp("prices")
    table = folder / "aws_prices.json"
    table.write_text(json.dumps({"regions": {"us-east-1": {"ec2": {"m5.large": 0.09}}}}))
    mp = pytest.MonkeyPatch()
    try:
        out, _ = _refresh(table, answer, mp)
    finally:
        mp.undo()
    fuzz.assert_clean(out, names="Price List API answer")
