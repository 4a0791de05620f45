"""The two-region lab on loopback: real processes, free ports, 127.0.0.1 only, stopped on exit.

Pieces (each a process the lab owns, see :mod:`.supervisor`):

- two gateway sample apps (``summit_platform.apps.gateway.app``), one per region, exporting the project's input
  histogram with their ``region`` label; each has a fault knob on a loopback admin socket;
- HAProxy in front: one server per region in backend ``regions``, its admin socket for the
  ``haproxy`` actuator, and its Prometheus exporter;
- Prometheus scraping both apps and HAProxy, loaded with the rule file ``summit rules render``
  produces for the lab's stack, sending alerts to
- Alertmanager, which routes every alert to a webhook receiver inside the drill process that
  records each alert with the time it arrived;
- Locust sending steady load through HAProxy;
- ``summit traffic run`` reading that Prometheus and applying through HAProxy.

Settings that are not stack config (the production scrape and rule intervals, the regions'
baseline latency) are :class:`LabSettings`.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from summit_platform.automation.errors import UserError
from summit_platform.automation.rules_cli import render_stack
from summit_platform.automation.stack_files import load_stack
from summit_platform.automation.traffic.drill.supervisor import Supervisor
from summit_platform.automation.traffic.haproxy import BACKEND, WEIGHT_PER_PERCENT, HAProxyAdmin
from summit_platform.components.render import prometheus_rules as pr

BUNDLED_STACK = Path(__file__).resolve().parent / "Pulumi.drill.yaml"
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
TOOLS = {
    "haproxy": "haproxy",
    "prometheus": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
}
"""Command -> Debian package (``make tools`` installs them)."""


@dataclass(frozen=True)
class LabSettings:
    """What the lab runs with besides the stack config."""

    scrape_interval_s: int = 15
    """The recommended production scrape interval (docs/observability.md: 15 s or faster)."""
    rule_interval_s: int = 30
    """Global rule evaluation (kube-prometheus-stack's 30 s); the steering group carries its
    own 10 s interval in the rendered rules."""
    loop_interval: str = "5s"
    """``summit traffic run --interval``: the recommended production loop."""
    baseline_ms: Mapping[str, float] = field(
        default_factory=lambda: {"us-east-1": 450.0, "us-west-2": 1400.0}
    )
    """Latency every request of a region has before any fault: the sprint plan's stage
    figures (p95 0.45 s and 1.40 s), which the simulator's defaults also use."""
    users: int = 40
    """Locust users, one request per second each at most."""
    alert_group_wait: str = "5s"
    """Alertmanager's wait before the first notification of a group."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_tools() -> dict[str, str]:
    """Paths of the lab's tools; a missing one is a user error naming its Debian package."""
    found, missing = {}, []
    for cmd, package in TOOLS.items():
        path = shutil.which(cmd) or shutil.which(cmd, path="/usr/sbin:/usr/bin")
        if path:
            found[cmd] = path
        else:
            missing.append(f"{cmd} (Debian package {package})")
    if missing:
        raise UserError(
            "the drill needs " + ", ".join(missing) + " on PATH: run `make tools`",
            key="tools",
        )
    return found


# --------------------------------------------------------------------------- configs (pure)


def haproxy_config(
    *, port: int, metrics_port: int, socket_path: Path, servers: Mapping[str, int]
) -> str:
    """HAProxy's config: one frontend, one backend with a server per region at weight 100
    (the natural 50/50), the admin socket and the Prometheus exporter. Requests are balanced
    one by one (HTTP mode), so a weight change moves the next request, as a dial does."""
    lines = [
        "global",
        f"  stats socket {socket_path} mode 600 level admin",
        "  maxconn 2000",
        "defaults",
        "  mode http",
        "  timeout connect 2s",
        "  timeout client 30s",
        "  timeout server 30s",
        "  timeout check 5s",
        "frontend drill",
        f"  bind 127.0.0.1:{port}",
        f"  default_backend {BACKEND}",
        "frontend metrics",
        f"  bind 127.0.0.1:{metrics_port}",
        "  http-request use-service prometheus-exporter if { path /metrics }",
        f"backend {BACKEND}",
        "  balance roundrobin",
        "  option httpchk GET /healthz",
    ]
    natural_weight = 50 * WEIGHT_PER_PERCENT
    for region, server_port in sorted(servers.items()):
        lines.append(
            f"  server {region} 127.0.0.1:{server_port} weight {natural_weight} check inter 2s"
        )
    return "\n".join(lines) + "\n"


def prometheus_config(
    *,
    settings: LabSettings,
    rule_files: list[Path],
    gateways: list[str],
    haproxy_metrics: str,
    alertmanager: str,
) -> dict[str, Any]:
    """Prometheus scraping the apps and HAProxy, with the rendered rules and Alertmanager."""
    return {
        "global": {
            "scrape_interval": f"{settings.scrape_interval_s}s",
            "evaluation_interval": f"{settings.rule_interval_s}s",
        },
        "rule_files": [str(p) for p in rule_files],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {"job_name": "gateway", "static_configs": [{"targets": gateways}]},
            {"job_name": "haproxy", "static_configs": [{"targets": [haproxy_metrics]}]},
        ],
    }


def alertmanager_config(webhook_url: str, group_wait: str) -> dict[str, Any]:
    """Every alert to one webhook receiver, resolved notifications included."""
    return {
        "route": {
            "receiver": "drill",
            "group_by": ["alertname", "region", "slo_name", "severity"],
            "group_wait": group_wait,
            "group_interval": "30s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {"name": "drill", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}
        ],
    }


# --------------------------------------------------------------------------- webhook receiver


class AlertSink:
    """Alertmanager's webhook receiver: records ``{name, at, status, labels}`` per alert."""

    def __init__(self, log_path: Path):
        self.log_path = log_path
        self.alerts: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                sink.record(body, time.time())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: every notification is in the alerts log."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def record(self, body: bytes, at: float) -> None:
        try:
            doc = json.loads(body)
            items = doc.get("alerts", []) if isinstance(doc, dict) else []
        except ValueError:
            items = []
        with self._lock, self.log_path.open("a") as fh:
            for a in items:
                labels = a.get("labels", {}) if isinstance(a, dict) else {}
                entry = {
                    "name": labels.get("alertname", "?"),
                    "at": round(at, 3),
                    "status": a.get("status"),
                    "startsAt": a.get("startsAt"),
                    "labels": labels,
                }
                self.alerts.append(entry)
                fh.write(json.dumps(entry) + "\n")

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.alerts)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


# --------------------------------------------------------------------------- the lab


def _get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read()


def prepare_project(project_dir: Path, stack: str, dest: Path) -> Path:
    """Copy the project's Pulumi.yaml and the stack file into ``dest`` (the lab writes its
    dials and pins there, never into the project). The stack file is the project's
    ``Pulumi.<stack>.yaml``, or the bundled drill stack for ``drill``."""
    pulumi_yaml = project_dir / "Pulumi.yaml"
    if not pulumi_yaml.is_file():
        raise UserError(
            "expected a Pulumi project folder (no Pulumi.yaml)", source=str(project_dir)
        )
    source = project_dir / f"Pulumi.{stack}.yaml"
    if not source.is_file() and stack == "drill":
        source = BUNDLED_STACK
    if not source.is_file():
        raise UserError(
            f"no stack file Pulumi.{stack}.yaml", source=str(project_dir), key="--stack"
        )
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pulumi_yaml, dest / "Pulumi.yaml")
    shutil.copyfile(source, dest / f"Pulumi.{stack}.yaml")
    cfg = load_stack(dest, stack)  # bad config fails here, before any process starts
    if sorted(cfg.region_names) != ["us-east-1", "us-west-2"]:
        raise UserError(
            f"the lab runs two regions (us-east-1, us-west-2), found {cfg.region_names}",
            source=str(source),
            key="summit-platform:regions",
        )
    if not cfg.services:
        raise UserError(
            "the lab needs a service to render rules for",
            source=str(source),
            key="summit-platform:services",
        )
    return dest


def render_rules(project: Path, stack: str, out: Path) -> list[Path]:
    """``summit rules render`` for the lab's stack; returns the rule files Prometheus loads.

    Only the first region's files: the steering, SLI and alert rules aggregate ``by (service,
    region)``, so one copy covers both regions (the second would evaluate every rule twice)."""
    files = render_stack(project, stack)
    first = sorted(files)[0].split("/", 1)[0]
    written = []
    for rel, doc in sorted(files.items()):
        if rel.endswith(".rules.yml") and rel.startswith(first + "/"):
            path = out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(pr.to_yaml(doc))
            written.append(path)
    return written


def wait_ready(url: str, *, timeout_s: float, alive: Any = None, what: str = "") -> None:
    """Poll ``url`` until it answers 200; fail early when ``alive()`` says the process died."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _get(url)
            return
        except (urllib.error.URLError, OSError):
            pass
        if alive is not None and not alive():
            raise RuntimeError(f"{what or url} exited before it was ready (see its log)")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what or url} not ready after {timeout_s:g}s")
        time.sleep(0.2)


@dataclass
class Ports:
    """Every port the lab listens on (all on 127.0.0.1)."""

    gateways: dict[str, int]
    admins: dict[str, int]
    haproxy: int
    haproxy_metrics: int
    prometheus: int
    alertmanager: int

    @classmethod
    def pick(cls, regions: list[str]) -> Ports:
        return cls(
            gateways={r: free_port() for r in regions},
            admins={r: free_port() for r in regions},
            haproxy=free_port(),
            haproxy_metrics=free_port(),
            prometheus=free_port(),
            alertmanager=free_port(),
        )


class Lab:
    """The lab's processes and knobs. Use as a context manager: leaving it stops everything."""

    def __init__(
        self, project_dir: Path, stack: str, run_dir: Path, settings: LabSettings | None = None
    ):
        self.settings = settings or LabSettings()
        self.stack = stack
        self.run_dir = Path(run_dir)
        self.tools = find_tools()
        self.project = prepare_project(Path(project_dir), stack, self.run_dir / "project")
        self.cfg = load_stack(self.project, stack)
        self.regions = sorted(self.cfg.region_names)
        self.ports = Ports.pick(self.regions)
        self.socket_path = self.run_dir / "haproxy.sock"
        self.sup = Supervisor(self.run_dir / "logs")
        self.admin = HAProxyAdmin(self.socket_path)
        self.sink: AlertSink | None = None
        self.faults: dict[str, dict[str, float]] = {r: {} for r in self.regions}
        self.controller_log = self.run_dir / "controller.jsonl"
        self.leftovers: list[str] = []

    # -- lifecycle

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> list[str]:
        """Stop every process (newest first) and the receiver; returns groups left alive."""
        self.leftovers = self.sup.stop_all()
        if self.sink is not None:
            self.sink.close()
            self.sink = None
        return self.leftovers

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.prometheus}"

    @property
    def haproxy_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.haproxy}"

    def start(self, *, load_seconds: int) -> None:
        """Start every piece and wait until each answers; Locust runs ``load_seconds``."""
        self.sink = AlertSink(self.run_dir / "alerts.jsonl")
        for region in self.regions:
            self._start_gateway(region)
        for region in self.regions:
            self.set_fault(region)  # the regions' baseline latency
        self._start_haproxy()
        self._start_alertmanager()
        self.start_prometheus()
        self._start_controller()
        self._start_locust(load_seconds)
        self._write_lab_json()

    def _start_gateway(self, region: str) -> None:
        name = f"gateway-{region}"
        argv = [
            sys.executable,
            "-m",
            "summit_platform.apps.gateway.app",
            "--port",
            str(self.ports.gateways[region]),
            "--region",
            region,
            "--admin-port",
            str(self.ports.admins[region]),
        ]
        self.sup.start(name, argv)
        base = f"http://127.0.0.1:{self.ports.gateways[region]}"
        wait_ready(f"{base}/healthz", timeout_s=30, alive=lambda: self.sup.running(name), what=name)

    def _start_haproxy(self) -> None:
        cfg = self.run_dir / "haproxy.cfg"
        cfg.write_text(
            haproxy_config(
                port=self.ports.haproxy,
                metrics_port=self.ports.haproxy_metrics,
                socket_path=self.socket_path,
                servers=self.ports.gateways,
            )
        )
        # -db: stay in the foreground, no daemon, so the process group holds all of it.
        self.sup.start("haproxy", [self.tools["haproxy"], "-db", "-f", str(cfg)])
        wait_ready(
            f"{self.haproxy_url}/healthz",
            timeout_s=20,
            alive=lambda: self.sup.running("haproxy"),
            what="haproxy",
        )

    def _start_alertmanager(self) -> None:
        assert self.sink is not None
        cfg = self.run_dir / "alertmanager.yml"
        cfg.write_text(
            yaml.safe_dump(alertmanager_config(self.sink.url, self.settings.alert_group_wait))
        )
        argv = [
            self.tools["prometheus-alertmanager"],
            f"--config.file={cfg}",
            f"--storage.path={self.run_dir / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{self.ports.alertmanager}",
            "--cluster.listen-address=",  # no gossip port on 0.0.0.0: one instance, loopback
        ]
        self.sup.start("alertmanager", argv)
        wait_ready(
            f"http://127.0.0.1:{self.ports.alertmanager}/-/ready",
            timeout_s=30,
            alive=lambda: self.sup.running("alertmanager"),
            what="alertmanager",
        )

    def start_prometheus(self) -> None:
        """Start (or restart, keeping its data) Prometheus and wait until it is ready."""
        cfg = self.run_dir / "prometheus.yml"
        if not cfg.exists():
            rules = render_rules(self.project, self.stack, self.run_dir / "rules")
            doc = prometheus_config(
                settings=self.settings,
                rule_files=rules,
                gateways=[f"127.0.0.1:{self.ports.gateways[r]}" for r in self.regions],
                haproxy_metrics=f"127.0.0.1:{self.ports.haproxy_metrics}",
                alertmanager=f"127.0.0.1:{self.ports.alertmanager}",
            )
            cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
        argv = [
            self.tools["prometheus"],
            f"--config.file={cfg}",
            f"--storage.tsdb.path={self.run_dir / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{self.ports.prometheus}",
        ]
        self.sup.start("prometheus", argv)
        wait_ready(
            f"{self.prometheus_url}/-/ready",
            timeout_s=60,
            alive=lambda: self.sup.running("prometheus"),
            what="prometheus",
        )

    def stop_prometheus(self) -> None:
        """The metrics outage: Prometheus stops (its data stays for the restart)."""
        self.sup.stop("prometheus")

    def _start_controller(self) -> None:
        # Run from the lab's project folder with the defaults for the folder, so the loop reads
        # and writes the lab's copy of the stack file only.
        argv = [
            sys.executable,
            "-m",
            "summit_platform.automation.cli",
            "traffic",
            "run",
            "--stack",
            self.stack,
            "--source",
            "prometheus",
            "--interval",
            self.settings.loop_interval,
            "--prometheus-url",
            self.prometheus_url,
            "--state",
            str(self.run_dir / "controller-state.json"),
            "--haproxy-socket",
            str(self.socket_path),
        ]
        self.sup.start("controller", argv, cwd=self.project, stdout=self.controller_log)

    def _start_locust(self, seconds: int) -> None:
        users = str(self.settings.users)
        argv = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--users",
            users,
            "--spawn-rate",
            users,
            "--run-time",
            f"{max(10, int(seconds))}s",
            "--stop-timeout",
            "2",
            "--host",
            self.haproxy_url,
            "--only-summary",
            "--loglevel",
            "WARNING",
        ]
        self.sup.start("locust", argv, cwd=self.run_dir)

    def _write_lab_json(self) -> None:
        doc = {
            "haproxy": self.haproxy_url,
            "haproxySocket": str(self.socket_path),
            "prometheus": self.prometheus_url,
            "alertmanager": f"http://127.0.0.1:{self.ports.alertmanager}",
            "gateways": {r: f"http://127.0.0.1:{p}" for r, p in self.ports.gateways.items()},
            "faultKnobs": {r: f"http://127.0.0.1:{p}/faults" for r, p in self.ports.admins.items()},
            "baselineMs": dict(self.settings.baseline_ms),
            "pids": {c.name: c.pid for c in self.sup.children.values()},
        }
        (self.run_dir / "lab.json").write_text(json.dumps(doc, indent=1) + "\n")

    # -- knobs

    def set_fault(self, region: str, *, latency_ms: float = 0.0, error_pct: float = 0.0) -> None:
        """Make every request of ``region`` slower by ``latency_ms`` (on top of its baseline)
        and fail ``error_pct`` percent of them; zeros remove the fault."""
        total = self.settings.baseline_ms.get(region, 0.0) + latency_ms
        doc = {
            "latencyMs": {"*": total} if total else {},
            "errorPct": {"*": error_pct} if error_pct else {},
        }
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.ports.admins[region]}/faults",
            data=json.dumps(doc).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            resp.read()
        self.faults[region] = {"latencyMs": latency_ms, "errorPct": error_pct}

    def pin(self, shares: Mapping[str, int], *, reason: str, ttl: str) -> None:
        """An operator's pin, the way an operator sets it: ``summit traffic pin --offline``
        against the lab's stack file (the running loop reads it at its next evaluation)."""
        argv = [
            sys.executable,
            "-m",
            "summit_platform.automation.cli",
            "traffic",
            "pin",
            *[f"{r}={v}" for r, v in sorted(shares.items())],
            "--stack",
            self.stack,
            "--reason",
            reason,
            "--ttl",
            ttl,
            "--offline",
            "--audit-log",
            str(self.run_dir / "traffic-audit.jsonl"),
        ]
        res = subprocess.run(
            argv, cwd=self.project, capture_output=True, text=True, timeout=60, check=False
        )
        if res.returncode != 0:
            raise RuntimeError(f"summit traffic pin failed: {res.stderr.strip()[-500:]}")
