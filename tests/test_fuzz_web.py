"""Bad-input surfaces of the web budgets (tests/fuzz.py): generated malformed LHRs and web
budgets files through `summit perf compare` never crash and never change a file; a value that
does not fit exits 2 naming the file."""

from __future__ import annotations

import gzip
import json
from typing import Any

import fuzz
import pytest
import yaml
from conftest import FIXTURES, ROOT
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.fuzz

LHR = FIXTURES / "lighthouse" / "clean-index.mobile.json.gz"
WEB = ROOT / "budgets" / "web.yaml"
_FULL = json.loads(gzip.decompress(LHR.read_bytes()))
# The parts of the real LHR the reader uses (the rest is ignored; a 370 KB file per example
# would make each run ten times slower).
_DOC = {
    "lighthouseVersion": _FULL["lighthouseVersion"],
    "finalDisplayedUrl": _FULL["finalDisplayedUrl"],
    "configSettings": {"formFactor": _FULL["configSettings"]["formFactor"]},
    "categories": {"performance": {"score": _FULL["categories"]["performance"]["score"]}},
    "audits": {
        k: {f: v[f] for f in ("numericValue", "numericUnit") if f in v}
        for k, v in _FULL["audits"].items()
        if "numericValue" in v
    },
}
_BODY = json.dumps(_DOC).encode()
_GZ = gzip.compress(_BODY)

ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["\uff12\uff15\uff10\uff10", "\u0663", "1e999", "NaN", "", "fast"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
LHR_KEYS = [
    ("lighthouseVersion",),
    ("finalDisplayedUrl",),
    ("configSettings", "formFactor"),
    ("configSettings",),
    ("audits",),
    ("audits", "largest-contentful-paint"),
    ("audits", "largest-contentful-paint", "numericValue"),
    ("audits", "total-blocking-time", "numericValue"),
    ("audits", "cumulative-layout-shift", "numericValue"),
    ("audits", "total-byte-weight", "numericUnit"),
    ("categories", "performance", "score"),
    ("categories",),
    ("runtimeError",),
]


def _set(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(doc))
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


@fuzz.surface_settings()
@given(path=st.sampled_from(LHR_KEYS), value=ODD)
def test_malformed_lhr_values(tmp_path_factory: pytest.TempPathFactory, path, value) -> None:
    folder = tmp_path_factory.mktemp("lhr")
    bad = folder / "page.json"
    bad.write_text(json.dumps(_set(_DOC, path, value)))
    out = fuzz.run("web-lhr", ["perf", "compare", str(bad), "--budgets", str(WEB)], watch=[folder])
    # A value that happens to fit (a valid score, an ignored key) is judged: pass or block.
    fuzz.assert_clean(out, allowed=(0, 1, 2), names=str(bad))


@fuzz.surface_settings()
@given(cut=st.integers(min_value=0, max_value=len(_BODY) - 1), gz=st.booleans())
def test_truncated_lhr(tmp_path_factory: pytest.TempPathFactory, cut: int, gz: bool) -> None:
    folder = tmp_path_factory.mktemp("lhr")
    bad = folder / ("page.json.gz" if gz else "page.json")
    bad.write_bytes(_GZ[: cut * (len(_GZ) - 1) // len(_BODY)] if gz else _BODY[:cut])
    out = fuzz.run("web-lhr", ["perf", "compare", str(bad), "--budgets", str(WEB)], watch=[folder])
    fuzz.assert_clean(out, names=str(bad))


BUDGET_KEYS = [
    ("runs",),
    ("form_factor",),
    ("version",),
    ("pages",),
    ("defaults",),
    ("defaults", "lcp_ms"),
    ("defaults", "cls_tolerance"),
    ("defaults", "baseline_min_delta_ms"),
    ("pages", 0),
    ("pages", 0, "path"),
    ("pages", 1, "total_kb"),
    ("pages", 2, "min_score"),
]


@fuzz.surface_settings()
@given(path=st.sampled_from(BUDGET_KEYS), value=ODD)
def test_malformed_web_budgets(tmp_path_factory: pytest.TempPathFactory, path, value) -> None:
    folder = tmp_path_factory.mktemp("budgets")
    spec = yaml.safe_load(WEB.read_text())
    node: Any = spec
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    bad = folder / "web.yaml"
    bad.write_text(yaml.safe_dump(spec, allow_unicode=True))
    verdict = folder / "verdict.json"
    lhr = folder / "page.json"
    lhr.write_text(json.dumps(_DOC))
    argv = ["perf", "compare", str(lhr), "--budgets", str(bad), "--json", str(verdict)]
    out = fuzz.run("web-budgets", argv, watch=[bad])
    fuzz.assert_clean(out, allowed=(0, 1, 2), names=str(bad))
    if out.code == 2:
        assert not verdict.exists()  # bad input writes nothing
