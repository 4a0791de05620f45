"""The thin production layer of ``summit deploy``: the stack file, the Automation API, kubectl.

- :class:`StackFileVersions` sets and restores a deploy's ``regionVersions`` keys in
  ``Pulumi.<stack>.yaml`` itself, through :func:`summit_platform.automation.safe_io.update_yaml` (lock, round
  trip, atomic rename): comments, order, quoting and flow style stay as they were, so each key
  is a one-line diff in the commit the workflow pushes. ``pulumi config set`` would rewrite the
  whole file in the CLI's own layout (pulumi/pulumi#12415; the stand-in in tests does the
  same). A restore puts back the very scalar the key held before (its quotes too), removes a
  key that did not exist and a ``regionVersions`` map the deploy created.
- :class:`PulumiDeployOps` is :class:`~summit_platform.automation.delivery.deploy.DeployOps`: after each write
  it reads every key back through the Pulumi CLI (``pulumi config get --path``), so a step
  passes only when the engine sees what was meant; ``up --target`` goes through
  :mod:`summit_platform.automation.pulumi_ops` (a stack lock is retried with backoff); Rollout health comes
  from ``kubectl`` (:func:`kubectl_phase`); the gate is a function given by the CLI.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from summit_platform.automation import pulumi_ops, safe_io
from summit_platform.automation.delivery.deploy import ConfigEdit, RegionPlan
from summit_platform.automation.errors import UserError
from summit_platform.automation.stack_files import read_stack_file

_MISSING = object()
"""Marks a key that did not exist before the deploy."""

RolloutPhase = Callable[[RegionPlan, str], str | None]
"""(region, rollout name) -> ``status.phase`` of the Rollout (Healthy, Progressing, Paused,
Degraded), or None when it cannot be read."""


@dataclass
class StackFileVersions:
    """A deploy's ``services[i].regionVersions[region]`` keys in one stack file."""

    path: Path
    services_key: str
    saved: dict[tuple[int, str], Any] = field(default_factory=dict)
    """The node each key held before this run first set it (or the missing marker)."""

    def _services(self, doc: Any) -> Any:
        config: Any = doc.get("config") if isinstance(doc, dict) else None
        services = config.get(self.services_key) if isinstance(config, dict) else None
        if not isinstance(services, list):
            raise UserError(
                "expected the services list the deploy was planned from, found none",
                source=str(self.path),
                key=self.services_key,
            )
        return services

    def _service(self, services: Any, e: ConfigEdit) -> Any:
        svc: Any = services[e.index] if e.index < len(services) else None
        if not isinstance(svc, dict) or svc.get("name") != e.service:
            raise UserError(
                f"expected service {e.service!r} at this position (the file changed while"
                " deploying?); nothing was written",
                source=str(self.path),
                key=f"{self.services_key}[{e.index}]",
            )
        return svc

    def set(self, edits: Sequence[ConfigEdit]) -> None:
        """Write each edit's new version (remembering what the key held before)."""

        def change(doc: Any) -> None:
            services = self._services(doc)
            for e in edits:
                svc = self._service(services, e)
                versions = svc.get("regionVersions")
                key = (e.index, e.region)
                if key not in self.saved:
                    held = versions is not None and e.region in versions
                    self.saved[key] = versions[e.region] if held else _MISSING
                if versions is None:
                    svc["regionVersions"] = versions = {}
                versions[e.region] = e.new

        safe_io.update_yaml(self.path, change)

    def restore(self, edits: Sequence[ConfigEdit]) -> None:
        """Put every edited key back exactly: the scalar it held, or no key (and no map, when
        the deploy created the map and it is empty again)."""

        def change(doc: Any) -> None:
            services = self._services(doc)
            for e in edits:
                svc = self._service(services, e)
                versions = svc.get("regionVersions")
                held = self.saved.get((e.index, e.region), _MISSING)
                if e.previous is None:
                    if versions is not None and e.region in versions:
                        del versions[e.region]
                    if versions is not None and not versions and not e.map_existed:
                        del svc["regionVersions"]
                    continue
                if versions is None:
                    svc["regionVersions"] = versions = {}
                versions[e.region] = e.previous if held is _MISSING else held

        safe_io.update_yaml(self.path, change)

    def read(self, edits: Sequence[ConfigEdit]) -> dict[str, str | None]:
        """Each edit's key as the file holds it now (None: no such key)."""
        doc = safe_io.load_yaml(self.path)
        services = self._services(doc)
        out: dict[str, str | None] = {}
        for e in edits:
            versions = self._service(services, e).get("regionVersions") or {}
            value = versions.get(e.region)
            out[e.path] = None if value is None else str(value)
        return out


@dataclass
class StackFileVersion:
    """A service project's one ``<service>:version`` key in its stack file, set and restored
    with the same care as :class:`StackFileVersions` (formatting kept, the very scalar put
    back, a key that did not exist removed again). Every region's edit names the same key."""

    path: Path
    key: str
    saved: dict[str, Any] = field(default_factory=dict)

    def _config(self, doc: Any) -> Any:
        config: Any = doc.get("config") if isinstance(doc, dict) else None
        if config is None and isinstance(doc, dict):
            doc["config"] = config = {}
        if not isinstance(config, dict):
            raise UserError(
                "expected a mapping of config keys", source=str(self.path), key="config"
            )
        return config

    def set(self, edits: Sequence[ConfigEdit]) -> None:
        """Write the new version (remembering what the key held before the first write)."""

        def change(doc: Any) -> None:
            config = self._config(doc)
            if self.key not in self.saved:
                self.saved[self.key] = config.get(self.key, _MISSING)
            for e in edits:
                config[self.key] = e.new

        safe_io.update_yaml(self.path, change)

    def restore(self, edits: Sequence[ConfigEdit]) -> None:
        """Put the key back as it was before the deploy (or remove it)."""

        def change(doc: Any) -> None:
            config = self._config(doc)
            for e in edits:
                held = self.saved.get(self.key, _MISSING)
                if e.previous is None:
                    config.pop(self.key, None)
                else:
                    config[self.key] = e.previous if held is _MISSING else held

        safe_io.update_yaml(self.path, change)


def kubectl_phase(kubectl: str = "kubectl") -> RolloutPhase:
    """Read a Rollout's phase with ``kubectl get rollout -o json`` through the region's
    kubeconfig context (the same context the stack's Kubernetes provider uses)."""

    def phase(region: RegionPlan, name: str) -> str | None:
        cmd = [kubectl, "get", "rollout.argoproj.io", name, "-n", region.namespace, "-o", "json"]
        if region.context:
            cmd[1:1] = ["--context", region.context]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        if proc.returncode != 0:
            return None
        doc = json.loads(proc.stdout)
        status = doc.get("status") or {}
        # A status from before this update is not an answer: wait for the controller.
        generation = str((doc.get("metadata") or {}).get("generation", ""))
        observed = status.get("observedGeneration")
        if observed is not None and str(observed) != generation:
            return "Progressing"
        return status.get("phase")

    return phase


@dataclass
class PulumiDeployOps:
    """:class:`~summit_platform.automation.delivery.deploy.DeployOps` over the stack file, the Automation API
    (``summit_platform.automation.pulumi_ops``), ``kubectl`` and the gate."""

    project_dir: Path
    stack_name: str
    services_key: str
    gate_fn: Callable[[RegionPlan], tuple[bool, str, dict[str, Any]]]
    phase: RolloutPhase
    command: Any = None
    """A ``PulumiCommand`` (tests: the stand-in); None -> pulumi_ops' default."""
    healthy_timeout_seconds: float = 2700
    poll_seconds: float = 15
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    log: Callable[[str], None] = lambda _m: None
    _stack: Any = None
    _file: StackFileVersions | StackFileVersion | None = None

    @property
    def file(self) -> StackFileVersions | StackFileVersion:
        if self._file is None:
            path = self.project_dir / f"Pulumi.{self.stack_name}.yaml"
            self._file = StackFileVersions(path, self.services_key)
        return self._file

    def stack(self) -> Any:
        if self._stack is None:
            self._stack = pulumi_ops.open_stack(
                self.project_dir, self.stack_name, command=self.command
            )
        return self._stack

    def read_back(self, edits: Sequence[ConfigEdit], restored: bool) -> dict[str, str | None]:
        """Each key as the Pulumi CLI reads it; raises when one is not what was written."""
        seen: dict[str, str | None] = {}
        for e in edits:
            value = pulumi_ops.get_config(self.stack(), e.path, path=True)
            seen[e.path] = None if value is None else value.value
        want = {e.path: (e.previous if restored else e.new) for e in edits}
        # A key the restore removed may read back as its Pulumi.yaml default (newer CLIs
        # apply project defaults): that is the version the region ran before, too.
        fallback = {e.path: e.effective_previous for e in edits if restored and e.previous is None}
        wrong = {
            k: (want[k], seen[k])
            for k in want
            if seen[k] != want[k] and not (k in fallback and seen[k] == fallback[k])
        }
        if wrong:
            shown = "; ".join(f"{k}: expected {w!r}, read {s!r}" for k, (w, s) in wrong.items())
            raise RuntimeError(f"read back through the Pulumi CLI: {shown}")
        return seen

    def set_versions(self, region: RegionPlan) -> tuple[bool, str, dict[str, Any]]:
        self.file.set(region.edits)
        seen = self.read_back(region.edits, restored=False)
        shown = ", ".join(f"{e.service} {e.effective_previous} -> {e.new}" for e in region.edits)
        return True, f"set {shown} (read back)", {"set": seen}

    def restore_versions(self, region: RegionPlan) -> tuple[bool, str, dict[str, Any]]:
        self.file.restore(region.edits)
        seen = self.read_back(region.edits, restored=True)
        shown = ", ".join(f"{e.service} {e.effective_previous}" for e in region.edits)
        return True, f"config restored ({shown}; read back)", {"restored": seen}

    def up(self, region: RegionPlan, rollback: bool) -> tuple[bool, str, dict[str, Any]]:
        what = "rollback" if rollback else "deploy"
        outcome = pulumi_ops.retry_when_locked(
            lambda: pulumi_ops.up(
                self.stack(),
                targets=region.targets,
                message=f"summit deploy: {what} {region.region}",
            ),
            sleep=self.sleep,
        )
        return True, f"up {region.region}: {outcome.changes}", {"changes": outcome.changes}

    def wait_healthy(self, region: RegionPlan) -> tuple[bool, str, dict[str, Any]]:
        deadline = self.clock() + self.healthy_timeout_seconds
        pending = list(region.rollouts)
        phases: dict[str, str | None] = {}
        while True:
            for name in list(pending):
                phases[name] = self.phase(region, name)
                if phases[name] == "Healthy":
                    pending.remove(name)
                elif phases[name] == "Degraded":
                    return False, f"Rollout {name} is Degraded (aborted)", {"phases": phases}
            if not pending:
                return True, "every Rollout Healthy", {"phases": phases}
            if self.clock() >= deadline:
                return (
                    False,
                    f"timed out after {self.healthy_timeout_seconds:g}s waiting for"
                    f" {', '.join(f'{n} ({phases[n]})' for n in pending)}",
                    {"phases": phases},
                )
            self.log(f"{region.region}: waiting for {', '.join(pending)}")
            self.sleep(self.poll_seconds)

    def gate(self, region: RegionPlan) -> tuple[bool, str, dict[str, Any]]:
        return self.gate_fn(region)


def read_raw_services(project_dir: Path, stack: str, project: str) -> tuple[str, list[Any]]:
    """(key, list): the services list as the stack file writes it (its indexes are the config
    paths) and the key holding it (``<project>:services``, or a bare ``services``)."""
    raw = read_stack_file(project_dir, stack)
    for key in (f"{project}:services", "services"):
        if key in raw:
            value = raw[key]
            return key, value if isinstance(value, list) else []
    return f"{project}:services", []
