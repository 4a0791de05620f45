"""`summit finops observe`: observed CPU and memory per workload, from a real Prometheus server on
loopback whose TSDB is backfilled (``promtool tsdb create-blocks-from openmetrics``) with
cAdvisor's container series: two gateway pods and an intelgraph pod in the stack's namespace,
plus series that must not count (another namespace, the pause container, pod-level cgroups).
The usage file it writes is the one the right-size hints and `finops estimate --usage` read.
Bad answers and flags exit 2 without a traceback."""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import fuzz
import pytest
from conftest import ROOT
from hypothesis import given
from hypothesis import strategies as st
from loopback import Server

from summit_platform.automation.cli import main
from summit_platform.automation.finops.cost import load_usage

sys.path.insert(0, str(ROOT / "policypacks" / "finops"))
from finops_policies import policies as fp

pytestmark = pytest.mark.prometheus
SPAN, STEP = 3600, 60
MIB = 2**20
# (namespace, pod, container): (CPU cores used, working set bytes)
SERIES = {
    ("platform", "gateway-a", "gateway"): (0.04, 80 * MIB),
    ("platform", "gateway-b", "gateway"): (0.06, 100 * MIB),
    ("platform", "intelgraph-a", "intelgraph"): (0.2, 200 * MIB),
    ("other", "gateway-x", "gateway"): (5.0, 4000 * MIB),  # someone else's namespace
    ("platform", "gateway-a", "POD"): (0.5, 500 * MIB),  # the pause container
    ("platform", "gateway-a", ""): (0.9, 900 * MIB),  # the pod's own cgroup
}


def _openmetrics(end: int) -> str:
    cpu, mem = "container_cpu_usage_seconds", "container_memory_working_set_bytes"
    lines = [f"# TYPE {cpu} counter", f"# TYPE {mem} gauge"]
    for ts in range(end - SPAN, end + 1, STEP):
        for (ns, pod, container), (cores, size) in SERIES.items():
            labels = f'container="{container}",namespace="{ns}",pod="{pod}"'
            lines.append(f"{cpu}_total{{{labels}}} {cores * (ts - end + SPAN):.3f} {ts}")
            lines.append(f"{mem}{{{labels}}} {size} {ts}")
    lines.sort(key=lambda line: (not line.startswith("#"), line.split("{")[0]))
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from obs_helpers import running_prometheus, tsdb_from_openmetrics

    tmp = tmp_path_factory.mktemp("observe")
    data = tsdb_from_openmetrics(_openmetrics(int(time.time()) - 60), tmp)
    with running_prometheus(
        tmp, "global:\n  scrape_interval: 15s\nscrape_configs: []\n", data
    ) as url:
        yield url
    shutil.rmtree(data, ignore_errors=True)


def test_usage_per_workload_of_the_stacks_namespaces(prom: str, tmp_path: Path) -> None:
    out = tmp_path / "usage" / "observed.json"
    out.parent.mkdir()
    argv = ["finops", "observe", "--prometheus", prom, "-s", "stage", "--window", "1h"]
    assert main([*argv, "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert set(doc["resources"]) == {"gateway", "intelgraph"}
    gateway, intelgraph = doc["resources"]["gateway"], doc["resources"]["intelgraph"]
    assert gateway["cpuMillis"] == pytest.approx(50, rel=0.03)  # the mean of 40m and 60m
    assert gateway["memoryMiB"] == pytest.approx(90, rel=0.001)
    assert intelgraph["cpuMillis"] == pytest.approx(200, rel=0.03)
    assert intelgraph["memoryMiB"] == pytest.approx(200, rel=0.001)
    # the readers take it: estimate --usage, and the right-size hints' usageFile
    assert load_usage(out).of({"name": "gateway"})["cpuMillis"] == gateway["cpuMillis"]
    seen = fp._observed({"usageFile": str(out)}, "gateway-us-east-1-canary-rollout", "gateway")
    assert seen == gateway


def test_two_clusters_the_busier_counts(prom: str, capsys) -> None:
    with Server(
        {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [{"metric": {"container": "gateway"}, "value": [1, "0.3"]}],
            },
        }
    ) as busier:
        argv = ["finops", "observe", "--prometheus", prom, "--prometheus", busier.url]
        assert main([*argv, "-s", "stage", "--window", "1h", "--json", "-"]) == 0
        queries = [path for _, path, _ in busier.requests]
    doc = json.loads(capsys.readouterr().out)
    assert doc["resources"]["gateway"]["cpuMillis"] == 300  # 0.3 cores beats 0.05
    # the stand-in answers 0.3 to the memory query too: 0.3 bytes loses to the real 90Mi
    assert doc["resources"]["gateway"]["memoryMiB"] == pytest.approx(90, rel=0.001)
    assert len(queries) == 2 and all("namespace%3D~%22platform%22" in q for q in queries)


@pytest.mark.parametrize(
    ("answer", "needle"),
    [
        ({"status": "error", "error": "bad query"}, "status"),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "instant vector"),
        (
            {
                "status": "success",
                "data": {
                    "resultType": "vector",
                    "result": [{"metric": {"container": "gateway"}, "value": [1, "-2"]}],
                },
            },
            "expected a finite number >= 0",
        ),
        (
            {"status": "success", "data": {"resultType": "vector", "result": [{"value": 3}]}},
            "data.result[0]",
        ),
    ],
)
def test_a_bad_answer_exits_2(answer, needle, capsys) -> None:
    with Server(answer) as stand_in:
        code = main(["finops", "observe", "--prometheus", stand_in.url, "-s", "stage"])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err


def test_unreachable_or_bad_flags_exit_2(capsys) -> None:
    from obs_helpers import free_port

    port = free_port()
    secret = f"http://user:hunter2@127.0.0.1:{port}"
    assert main(["finops", "observe", "--prometheus", secret, "-s", "stage"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach Prometheus" in err and "hunter2" not in err
    assert (
        main(["finops", "observe", "--prometheus", secret, "-s", "stage", "--window", "30s"]) == 2
    )
    assert "at least 1m" in capsys.readouterr().err


VALID = {
    "status": "success",
    "data": {
        "resultType": "vector",
        "result": [{"metric": {"container": "gateway"}, "value": [1700000000.0, "0.05"]}],
    },
}
ODD = st.one_of(
    st.sampled_from(["NaN", "+Inf", "-Inf", "-0.5", "٣", "1_0", "0x10", "", " 1", "1e999"]),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
PLACES = [
    ("status",),
    ("data",),
    ("data", "resultType"),
    ("data", "result"),
    ("data", "result", 0),
    ("data", "result", 0, "metric"),
    ("data", "result", 0, "metric", "container"),
    ("data", "result", 0, "value"),
    ("data", "result", 0, "value", 1),
]


def _put(doc: object, place: tuple, value: object) -> object:
    doc = json.loads(json.dumps(doc))
    cur = doc
    for key in place[:-1]:
        cur = cur[key]
    cur[place[-1]] = value
    return doc


@pytest.fixture(scope="module")
def stand_in() -> Iterator[Server]:
    """One stand-in for every generated answer (a server per example would mostly wait)."""
    with Server() as server:
        yield server


@pytest.mark.fuzz
@fuzz.surface_settings()
@given(
    st.one_of(
        st.builds(_put, st.just(VALID), st.sampled_from(PLACES), ODD).map(
            lambda d: json.dumps(d, allow_nan=True).encode()
        ),
        st.integers(0, 150).map(lambda n: json.dumps(VALID).encode()[:n]),  # truncated
        st.binary(max_size=40).map(lambda b: b'{"status": "' + b + b'"}'),  # odd bytes
    )
)
def test_any_prometheus_answer_is_read_or_refused_cleanly(
    tmp_path_factory, stand_in: Server, answer: bytes
) -> None:
    out = tmp_path_factory.mktemp("fuzz") / "observed.json"
    stand_in.body = answer
    argv = ["finops", "observe", "--prometheus", stand_in.url, "-s", "stage"]
    outcome = fuzz.run("finops-observe", [*argv, "--json", str(out)])
    fuzz.assert_clean(outcome, allowed=(0, 2), names="Prometheus")
    if outcome.code == 0:  # what was written holds only finite usage >= 0
        for usage in json.loads(out.read_text())["resources"].values():
            assert all(0 <= v < float("inf") for v in usage.values())
    else:
        assert not out.exists()  # a refused answer writes nothing
