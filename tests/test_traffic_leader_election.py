"""Leader election on DynamoDB, against moto's DynamoDB (and Route53) served on loopback.

The store's conditional writes and fenced state writes; a stalled leader that wakes after its
lease expired writes nothing (in-process, with controlled clocks and a real Route53 zone);
and real `summit traffic run` processes: two never lead at once, every line says who wrote it
and whether it led, stopping the leader (SIGKILL or SIGTERM) hands over within one lease,
and a stopped (SIGSTOP) leader that wakes after expiry leads no more."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto.server import ThreadedMotoServer

from summit_platform.automation.traffic.controller import Policy, RegionState, State, initial_state
from summit_platform.automation.traffic.direct import DirectActuator
from summit_platform.automation.traffic.leadership import Leased
from summit_platform.automation.traffic.lease import Lease, Step, next_step
from summit_platform.automation.traffic.lease_store import LeaseStore, ensure_table
from summit_platform.components.render.traffic_pin import parse_time

ROOT = Path(__file__).resolve().parents[1]
E, W = "us-east-1", "us-west-2"
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture()
def moto_url(monkeypatch):
    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto keeps its backends per process: start every test from nothing.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
    yield url
    server.stop()


def _dynamodb(url: str) -> Any:
    return boto3.client("dynamodb", region_name=W, endpoint_url=url)


def _store(url: str, table: str = "summit-test-lease") -> LeaseStore:
    client = _dynamodb(url)
    ensure_table(client, table)
    return LeaseStore(client, table, "prod")


# --- the store ----------------------------------------------------------------------------------


def test_ensure_table_creates_the_stacks_schema_once(moto_url):
    client = _dynamodb(moto_url)
    assert ensure_table(client, "summit-prod-traffic-lease") is True
    assert ensure_table(client, "summit-prod-traffic-lease") is False
    table = client.describe_table(TableName="summit-prod-traffic-lease")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_conditional_writes_let_one_of_two_racers_win(moto_url):
    store = _store(moto_url)
    assert store.read() is None
    a = next_step(None, "A", 100.0, 15.0)
    b = next_step(None, "B", 100.0, 15.0)  # both saw no lease
    assert store.write(a, 100.0) is True
    assert store.write(b, 100.0) is False  # its condition (no item) no longer holds
    assert store.read() == Lease("A", 115.0, 1)
    # A renews on what it read; B, with a stale read, cannot take the lease.
    renew = next_step(store.read(), "A", 105.0, 15.0)
    assert store.write(renew, 105.0) and store.read() == Lease("A", 120.0, 1)
    stale = Step("acquire", Lease("B", 130.0, 2), Lease("A", 115.0, 1))
    assert store.write(stale, 116.0) is False
    taken = next_step(store.read(), "B", 120.0, 15.0)
    assert taken.kind == "acquire" and store.write(taken, 120.0)
    assert store.read() == Lease("B", 135.0, 2)
    assert store.release(Lease("A", 120.0, 1), 121.0) is False  # not A's any more
    assert store.release(Lease("B", 135.0, 2), 121.0) is True
    assert store.read() == Lease("B", 121.0, 2)


def test_state_writes_are_fenced_by_the_lease_and_never_go_back(moto_url):
    store = _store(moto_url)
    now = time.time()
    a = next_step(None, "A", now, 15.0).lease
    assert a is not None and store.write(Step("acquire", a, None), now)
    state = {"version": 1, "shares": {E: 50, W: 50}, "regions": {}}
    assert store.save_state(a, now, 2.0, (state, {"action": "steady"}, now))
    record = store.load_state()
    assert record is not None and record.token == 1 and record.holder == "A"
    assert record.last_applied_at == pytest.approx(now, abs=0.001)
    # Within the margin of its expiry the leader may not write any more.
    assert not store.save_state(a, a.expires_at - 1.0, 2.0, (state, {}, None))
    # B takes the lease after it expired; A's late write is refused, B's goes through.
    later = a.expires_at + 1
    b = next_step(store.read(), "B", later, 15.0)
    assert store.write(b, later)
    assert not store.save_state(a, later, 2.0, ({**state, "shares": {E: 0, W: 100}}, {}, later))
    assert store.save_state(b.lease, later, 2.0, (state, {"action": "steer"}, None))  # type: ignore[arg-type]
    record = store.load_state()
    assert record is not None and record.token == 2 and record.decision == {"action": "steer"}
    assert record.last_applied_at is None  # B has not applied anything yet


# --- a stalled leader, in-process ------------------------------------------------------------------


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _route53_zone(url: str) -> tuple[Any, str]:
    r53 = boto3.client("route53", region_name=E, endpoint_url=url)
    zone = r53.create_hosted_zone(Name="summit.example.", CallerReference="t")["HostedZone"]["Id"]
    changes = [
        {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": "api.summit.example.",
                "Type": "CNAME",
                "SetIdentifier": r,
                "Weight": 50,
                "TTL": 60,
                "ResourceRecords": [{"Value": f"alb.{r}.example"}],
            },
        }
        for r in (E, W)
    ]
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
    return r53, zone


def _weights(r53: Any, zone: str) -> dict[str, int]:
    recs = r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return {r["SetIdentifier"]: r["Weight"] for r in recs if "SetIdentifier" in r}


def test_a_stalled_leader_that_wakes_after_expiry_writes_nothing(moto_url):
    """A decides to shed us-west-2, then stalls (a GC pause, a frozen node) past its lease;
    B takes over. When A wakes it finds the lease gone before it writes the records, and its
    state write is refused: the records and the table hold only what B did."""
    r53, zone = _route53_zone(moto_url)
    natural = {E: 50.0, W: 50.0}
    targets = {"mode": "route53", "zoneId": zone, "recordName": "api.summit.example"}
    actuator = DirectActuator(targets, natural, route53=r53)
    clock_a, clock_b = Clock(1000.0), Clock(1000.0)
    a = Leased(_store(moto_url), "A", 15.0, clock=clock_a)
    b = Leased(_store(moto_url), "B", 15.0, clock=clock_b)
    assert a.begin(1000.0).leader and not b.begin(1000.5).leader
    # A has decided (us-west-2 to 20%) and is about to write ... and stalls for 20 s.
    clock_a.t = clock_b.t = 1020.0
    assert b.begin(1020.0).leader  # A's lease expired at 1015: B takes it, token 2
    report = actuator.apply({E: 100, W: 40}, guard=a.may_write)
    assert report == {
        "path": "direct",
        "dials": {E: 100, W: 40},
        "changed": {W: {"from": 50, "to": 20}, E: {"from": 50, "to": 80}},
        "weights": {E: 80, W: 20},
        "inEffect": False,
        "error": "the lease was lost before a write: stopped",
    }
    assert _weights(r53, zone) == {E: 50, W: 50}  # nothing written
    line: dict[str, Any] = {"action": "steer"}
    policy = Policy(natural=natural)
    assert a.finish(1000.0, initial_state(policy), line, in_effect=False) is False
    assert line["leader"] is False and line["holder"] == "A" and "fenced" in line
    record = a.store.load_state()
    assert record is None  # A never saved; B has not finished a turn yet
    # B, the leader, writes: the guard passes and the records change.
    assert actuator.apply({E: 100, W: 40}, guard=b.may_write)["inEffect"] is True
    assert _weights(r53, zone) == {E: 80, W: 20}
    line_b: dict[str, Any] = {"action": "steer"}
    assert b.finish(1020.0, initial_state(policy), line_b, in_effect=True) is True
    assert line_b["leader"] is True and line_b["fencingToken"] == 2
    record = b.store.load_state()
    assert record is not None and record.holder == "B" and record.token == 2


def test_the_new_leader_resumes_from_the_old_leaders_state(moto_url):
    a = Leased(_store(moto_url), "A", 15.0, clock=Clock(1000.0))
    b = Leased(_store(moto_url), "B", 15.0, clock=Clock(1020.0))
    assert a.begin(1000.0).leader
    shed = State(
        shares={E: 80, W: 20},
        regions={E: RegionState(), W: RegionState(mode="shed", breach_streak=4, shed_weight=900.0)},
        evaluations=17,
    )
    assert a.finish(1000.0, shed, {"action": "steer"}, in_effect=True)
    turn = b.begin(1020.0)
    assert turn.leader and turn.state == shed  # streaks, shares and mode carry over
    assert b.last_applied_at == 1000.0


# --- real processes -----------------------------------------------------------------------------


def _project(tmp_path: Path, lease: str | None = None) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    if lease:
        path = tmp_path / "Pulumi.prod.yaml"
        doc = yaml.safe_load(path.read_text())
        controller = doc["config"]["summit-platform:traffic"]["controller"]
        controller.update(leaseDuration=lease, interval="2s")  # a lease outlasts 3 turns
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return tmp_path


def _start(project: Path, holder: str, moto_url: str) -> subprocess.Popen:
    argv = [
        sys.executable,
        "-m",
        "summit_platform.automation.cli",
        "traffic",
        "run",
        "--stack",
        "prod",
    ]
    argv += ["--lease-table", "T", "--dynamodb-endpoint", moto_url, "--create-lease-table"]
    argv += ["--holder", holder, "--dry-run", "--interval", "2s"]
    argv += ["--prometheus-url", "http://127.0.0.1:9", "-C", str(project)]
    argv += ["--json", str(project / f"{holder}.jsonl")]
    env = {**os.environ, **CREDS, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(argv, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)


def _lines(project: Path, holder: str) -> list[dict[str, Any]]:
    path = project / f"{holder}.jsonl"
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _wait_for(predicate, timeout: float, what: str) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def _leader_lines(project: Path, holder: str) -> list[dict[str, Any]]:
    return [x for x in _lines(project, holder) if x.get("leader") is True]


def _check_one_leader_at_a_time(project: Path) -> None:
    """Every line says who and whether it led; leader turns, in time order, form epochs of
    one holder and one fencing token each, the tokens rising: never two leaders at once."""
    turns = []
    for holder in ("A", "B"):
        for line in _lines(project, holder):
            if line.get("action") == "stopped":
                continue
            assert line["holder"] == holder and isinstance(line["leader"], bool), line
            if line["leader"]:
                turns.append((line["at"], holder, line["fencingToken"]))
    turns.sort()
    for (_, h0, t0), (_, h1, t1) in itertools.pairwise(turns):
        assert t1 >= t0 and (t1 > t0 or h1 == h0), turns


def _stop(*procs: subprocess.Popen) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


def _first_leader(project: Path) -> str:
    return _wait_for(
        lambda: next((h for h in ("A", "B") if _leader_lines(project, h)), None), 60, "a leader"
    )


def test_killing_the_leader_hands_over_within_one_lease(moto_url, tmp_path):
    """The issue's acceptance run: prod's config (15 s lease), two controllers, --dry-run,
    2 s interval; SIGKILL the leader (it cannot release): the other leads once the lease
    expires, within 15 s plus the follower's 0.5 s poll."""
    project = _project(tmp_path)
    a = _start(project, "A", moto_url)
    _wait_for(lambda: _leader_lines(project, "A"), 60, "A leading")
    b = _start(project, "B", moto_url)
    try:
        _wait_for(lambda: len(_lines(project, "B")) >= 3, 60, "B standing by")
        assert all(x["leader"] is False for x in _lines(project, "B"))
        last_a = _leader_lines(project, "A")[-1]
        killed = time.time()
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=10)
        first_b = _wait_for(lambda: _leader_lines(project, "B"), 30, "B leading")[0]
        handover = first_b["at"] - killed
        print(f"handover after SIGKILL: {handover:.1f}s")  # reported by `pytest -s`
        assert handover <= 15.0 + 0.5 + 1.0  # lease + follower poll + a loaded machine's slack
        assert first_b["at"] >= _iso_seconds(last_a["leaseExpiresAt"]) - 1.0
        assert first_b["fencingToken"] == last_a["fencingToken"] + 1
        _check_one_leader_at_a_time(project)
    finally:
        _stop(a, b)
    assert b.returncode == 0, b.stderr.read() if b.stderr else ""


def _iso_seconds(text: str) -> float:
    value = parse_time(text)
    assert value is not None
    return value


def test_a_clean_stop_releases_the_lease_at_once(moto_url, tmp_path):
    project = _project(tmp_path, lease="6s")
    a, b = _start(project, "A", moto_url), _start(project, "B", moto_url)
    try:
        leader = _first_leader(project)
        other, proc = ("B", b) if leader == "A" else ("A", a)
        _wait_for(lambda: len(_lines(project, other)) >= 2, 60, f"{other} standing by")
        stopping = a if leader == "A" else b
        stopped = time.time()
        stopping.send_signal(signal.SIGTERM)
        assert stopping.wait(timeout=20) == 0
        first = _wait_for(lambda: _leader_lines(project, other), 20, f"{other} leading")[0]
        print(f"handover after SIGTERM: {first['at'] - stopped:.1f}s")
        assert first["at"] - stopped < 6.0  # released, not expired: well within the lease
        _check_one_leader_at_a_time(project)
        assert proc.poll() is None
    finally:
        _stop(a, b)


def test_a_leader_stopped_past_its_lease_leads_no_more_when_it_wakes(moto_url, tmp_path):
    project = _project(tmp_path, lease="6s")
    a, b = _start(project, "A", moto_url), _start(project, "B", moto_url)
    try:
        leader = _first_leader(project)
        other = "B" if leader == "A" else "A"
        frozen = a if leader == "A" else b
        _wait_for(lambda: len(_lines(project, other)) >= 2, 60, f"{other} standing by")
        frozen.send_signal(signal.SIGSTOP)
        _wait_for(lambda: _leader_lines(project, other), 30, f"{other} leading")
        woke = time.time()
        frozen.send_signal(signal.SIGCONT)
        _wait_for(
            lambda: [x for x in _lines(project, leader) if x["at"] > woke], 30, "the woken one"
        )
        time.sleep(3)
        after = [x for x in _lines(project, leader) if x["at"] > woke - 2 and x.get("leader")]
        assert after == [], after  # no turn of the woken leader counted as the leader's
        record = LeaseStore(_dynamodb(moto_url), "T", "prod").load_state()
        assert record is not None and record.holder == other
        _check_one_leader_at_a_time(project)
    finally:
        frozen.send_signal(signal.SIGCONT)
        _stop(a, b)
