"""The HAProxy actuator: the controller's traffic dials as HAProxy server weights, live.

A Global Accelerator traffic dial changes the share of *new* requests a region receives, at
once and without a redeploy; HAProxy's runtime API does the same for a backend server
(``set weight backend/server N`` on the admin socket: no reload, no dropped connection). With
one server per region (named like the region) in one backend, the weights are the shares the
dials deliver under Global Accelerator's spill-over model
(:func:`summit_platform.components.render.spill.region_loads`), so HAProxy serves what GA would.

The actuator keeps the other actuators' contract (:mod:`summit_platform.automation.traffic.actuators`): config
is written first (the stack file's ``regions[i].dial``), then reality changes, and the
:class:`~summit_platform.automation.traffic.actuators.ApplyReport` says whether they agree: the weights are
read back from HAProxy after they are set. It is what ``summit traffic run --haproxy-socket``
and the drill lab (``summit traffic drill``) use.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path

from summit_platform.automation.stack_files import load_stack
from summit_platform.automation.traffic.actuators import ApplyReport, OfflineConfig
from summit_platform.components.render.spill import region_loads

BACKEND = "regions"
"""The backend holding one server per region (server name = region name)."""
WEIGHT_PER_PERCENT = 2
"""Weight units per percent of traffic: half-percent resolution, 200 at most (HAProxy: 256)."""


class HAProxyError(Exception):
    """The admin socket could not be reached or refused a command."""


class HAProxyAdmin:
    """A client of HAProxy's admin socket (one command per connection, as ``socat`` does)."""

    def __init__(self, path: Path | str, *, timeout_s: float = 5.0):
        self.path = str(path)
        self.timeout_s = timeout_s

    def command(self, line: str) -> str:
        """Send one runtime API command and return HAProxy's answer."""
        if "\n" in line or ";" in line:
            raise HAProxyError(f"one command at a time, found {line!r}")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout_s)
                sock.connect(self.path)
                sock.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except OSError as err:
            raise HAProxyError(f"HAProxy admin socket {self.path}: {err}") from None
        return b"".join(chunks).decode(errors="replace")

    def show_stat(self) -> list[dict[str, str]]:
        """``show stat`` as one dict per proxy/server row (HAProxy's CSV column names)."""
        text = self.command("show stat")
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if not lines or not lines[0].startswith("# "):
            raise HAProxyError(f"unexpected answer to show stat: {text[:200]!r}")
        header = lines[0][2:].split(",")
        return [dict(zip(header, ln.split(","), strict=False)) for ln in lines[1:]]

    def set_weight(self, backend: str, server: str, weight: int) -> None:
        """``set weight backend/server N``; HAProxy answers nothing on success."""
        if not 0 <= int(weight) <= 256:
            raise HAProxyError(f"a weight is 0..256, found {weight}")
        answer = self.command(f"set weight {backend}/{server} {int(weight)}").strip()
        if answer:
            raise HAProxyError(f"set weight {backend}/{server} {weight}: {answer}")

    def get_weight(self, backend: str, server: str) -> int:
        """The server's current weight (``get weight`` answers ``N (initial M)``)."""
        answer = self.command(f"get weight {backend}/{server}").strip()
        head = answer.split(" ", 1)[0]
        if not head.isascii() or not head.isdigit():
            raise HAProxyError(f"get weight {backend}/{server}: {answer}")
        return int(head)


def weights_for_dials(dials: Mapping[str, int], natural: Mapping[str, float]) -> dict[str, int]:
    """HAProxy weights that serve what the dials deliver on Global Accelerator.

    ``region_loads`` gives each region's load in percent; the weight is that load times
    :data:`WEIGHT_PER_PERCENT`, rounded (round-robin serves weight / sum of weights)."""
    loads = region_loads(dials, natural)
    return {r: round(loads[r] * WEIGHT_PER_PERCENT) for r in sorted(natural)}


def apply_decision(
    project_dir: Path,
    stack_name: str,
    dials: Mapping[str, int],
    *,
    admin: HAProxyAdmin,
    backend: str = BACKEND,
) -> ApplyReport:
    """Write the dials to the stack file, set the weights, read them back.

    ``consistent`` is True only when HAProxy reports exactly the weights that were set."""
    cfg = load_stack(project_dir, stack_name)
    order = cfg.region_names
    report = ApplyReport(path="haproxy", dials={r: int(dials[r]) for r in order}, attempts=1)
    try:
        OfflineConfig(project_dir, stack_name).set_dials(report.dials)
        report.config_written = True
    except Exception as err:
        report.messages.append(f"could not write dials to config: {err}")
        return report
    natural: dict[str, float] = {r.name: r.natural_share for r in cfg.regions}
    weights = weights_for_dials(report.dials, natural)
    try:
        for region, weight in weights.items():
            admin.set_weight(backend, region, weight)
        seen = {region: admin.get_weight(backend, region) for region in weights}
    except HAProxyError as err:
        report.messages.append(
            f"NOT APPLIED: config now says dials {report.dials} but HAProxy was not changed ({err})"
        )
        return report
    report.applied = True
    report.consistent = seen == weights
    report.messages.append(f"HAProxy weights {seen} (wanted {weights})")
    return report
