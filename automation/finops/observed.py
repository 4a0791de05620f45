"""Observed usage per workload, from Prometheus: what the FinOps pack's right-size hints hold
requests against (its ``usageFile``), and what `summit finops estimate --usage` raises
allocations to.

The cluster's kubelets export cAdvisor's container metrics; per container name (our workloads
name their container after the service, so the name is the workload's), over a window:

- CPU: ``avg by (container) (rate(container_cpu_usage_seconds_total[W]))``, cores per pod;
- memory: ``avg by (container) (avg_over_time(container_memory_working_set_bytes[W]))``, the
  working set the kubelet evicts on, bytes per pod;

both restricted to the stack's namespaces, the pause container and pod-level series left out.
The result is a usage document, ``{"resources": {name: {"cpuMillis", "memoryMiB"}}}``, the shape
both readers take. :func:`usage_doc` is pure; :func:`query` is the only network call.
"""

from __future__ import annotations

import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

from summit_platform.automation.errors import UserError
from summit_platform.components.render.redact import redact_text, redact_url, short

_SELECTOR = '{{namespace=~"{ns}", container!="", container!="POD"}}'
CPU = "avg by (container) (rate(container_cpu_usage_seconds_total" + _SELECTOR + "[{window}]))"
MEMORY = (
    "avg by (container) (avg_over_time(container_memory_working_set_bytes"
    + _SELECTOR
    + "[{window}]))"
)
MAX_ANSWER_BYTES = 16 * 1024 * 1024
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
"""A sample value as Prometheus writes it (ASCII; ``float`` alone also takes "٣" and "1_0")."""


def promql(template: str, namespaces: Iterable[str], window: str) -> str:
    """A query for the given namespaces (regex-escaped, anchored by Prometheus) and window."""
    ns = "|".join(re.escape(n) for n in sorted(set(namespaces)))
    return template.format(ns=ns, window=window)


def query(base_url: str, expr: str, *, timeout: float = 30.0) -> Any:
    """Run an instant query; the parsed answer. Any failure is a UserError naming the server
    (its URL redacted: it may carry credentials)."""
    url = base_url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    shown = redact_url(base_url)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            raw = resp.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as err:
        raise UserError(
            f"Prometheus at {shown} answered HTTP {err.code}", key="--prometheus"
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise UserError(
            f"cannot reach Prometheus at {shown}: {redact_text(str(reason))}", key="--prometheus"
        ) from None
    if len(raw) > MAX_ANSWER_BYTES:
        raise UserError(f"answer larger than {MAX_ANSWER_BYTES} bytes", source=shown)
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse)
    except (UnicodeDecodeError, ValueError) as err:
        raise UserError(f"not a Prometheus JSON answer: {err}", source=shown) from None


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def vector(doc: Any, source: str) -> dict[str, float]:
    """``container -> value`` of an instant-vector answer; every value a finite number >= 0."""
    data = doc.get("data") if isinstance(doc, Mapping) else None
    if (
        not isinstance(doc, Mapping)
        or doc.get("status") != "success"
        or not isinstance(data, Mapping)
    ):
        raise UserError("expected {status: success, data: {...}}", source=source, key="status")
    if data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
        raise UserError("expected an instant vector", source=source, key="data.resultType")
    out: dict[str, float] = {}
    for i, sample in enumerate(data["result"]):
        where = f"data.result[{i}]"
        metric = sample.get("metric") if isinstance(sample, Mapping) else None
        value = sample.get("value") if isinstance(sample, Mapping) else None
        name = metric.get("container") if isinstance(metric, Mapping) else None
        if not isinstance(name, str) or not isinstance(value, list) or len(value) != 2:
            raise UserError(
                "expected {metric: {container}, value: [t, v]}", source=source, key=where
            )
        text = value[1]
        if text == "NaN":
            continue  # no samples for this series in the window: nothing observed
        number = float(text) if isinstance(text, str) and _NUMBER.fullmatch(text) else math.nan
        if not math.isfinite(number) or number < 0 or name in out:
            what = "once per container" if name in out else "a finite number >= 0"
            raise UserError(f"expected {what}, found {short(text)}", source=source, key=where)
        out[name] = number
    return out


def usage_doc(cpu_cores: Mapping[str, float], memory_bytes: Mapping[str, float]) -> dict[str, Any]:
    """The usage document: per workload, CPU in millicores and memory in MiB (rounded up, so
    a hint never suggests less than was used)."""
    resources: dict[str, dict[str, float]] = {}
    for name, cores in cpu_cores.items():
        resources.setdefault(name, {})["cpuMillis"] = math.ceil(cores * 1000 * 100) / 100
    for name, size in memory_bytes.items():
        resources.setdefault(name, {})["memoryMiB"] = math.ceil(size / 2**20 * 100) / 100
    return {"resources": {k: resources[k] for k in sorted(resources)}}
