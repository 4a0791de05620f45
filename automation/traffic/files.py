"""Reading and writing the traffic commands' files, with errors that name the file and key.

- metrics.json (documented in docs/traffic.md): ``{"regions":[{"name": "us-east-1",
  "p95": 0.42, "err": 0.002, "sat": 0.55}, ...]}``; optional per region ``rps`` and ``ts``
  (unix seconds or ISO 8601) and a top-level ``ts``; without a timestamp a sample counts as
  taken now.
- weights.json: what ``summit traffic compute --json`` writes, a list of
  ``{"region": ..., "weight": <percent>}`` (extra fields such as ``dial`` and ``reason`` are
  allowed and ignored).
- the controller state file (JSON, see :meth:`State.to_dict`), written atomically.
- the policy and the pin, built from the typed stack config.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from automation.errors import UserError
from automation.traffic.controller import Pin, Policy, Sample, State
from stacks.config import PROJECT, StackConfig


def parse_time(value: Any, *, source: str, key: str) -> float:
    """Unix seconds from a number or an ISO 8601 string (``Z`` allowed)."""
    if isinstance(value, bool):
        raise UserError(f"expected a time, found {value!r}", source=source, key=key)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            return parsed.timestamp()
    raise UserError(
        f"expected unix seconds or an ISO 8601 time, found {value!r}", source=source, key=key
    )


def iso(ts: float) -> str:
    """Unix seconds -> ``2026-11-27T12:00:00Z``."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError("file not found", source=str(path)) from None
    except json.JSONDecodeError as err:
        raise UserError(f"not valid JSON: {err}", source=str(path)) from None


def _number(value: Any, *, source: str, key: str, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if value is None:
        # null is how exporters say "no data": the controller treats NaN as missing.
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UserError(f"expected a number, found {value!r}", source=source, key=key)
    try:
        return float(value)
    except ValueError:
        raise UserError(f"expected a number, found {value!r}", source=source, key=key) from None


def read_metrics(path: Path, now: float) -> dict[str, Sample]:
    """Parse a metrics file (``{"regions": [{name, p95, err, ...}]}``) into samples by region."""
    src = str(path)
    doc = _load_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("regions"), list):
        raise UserError('expected {"regions": [...]}', source=src, key="regions")
    top_ts = doc.get("ts")
    default_ts = now if top_ts is None else parse_time(top_ts, source=src, key="ts")
    out: dict[str, Sample] = {}
    for i, item in enumerate(doc["regions"]):
        key = f"regions[{i}]"
        if not isinstance(item, dict):
            raise UserError("expected an object", source=src, key=key)
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise UserError("expected a region name", source=src, key=f"{key}.name")
        if name in out:
            raise UserError(f"region {name!r} listed twice", source=src, key=f"{key}.name")
        unknown = set(item) - {"name", "p95", "err", "sat", "rps", "ts"}
        if unknown:
            raise UserError(
                f"unknown keys {sorted(unknown)} (expected name, p95, err, sat, rps, ts)",
                source=src,
                key=key,
            )
        for required in ("p95", "err"):
            if required not in item:
                raise UserError("required key is missing", source=src, key=f"{key}.{required}")
        ts = item.get("ts")
        out[name] = Sample(
            region=name,
            p95_seconds=_number(item["p95"], source=src, key=f"{key}.p95"),  # type: ignore[arg-type]
            error_ratio=_number(item["err"], source=src, key=f"{key}.err"),  # type: ignore[arg-type]
            saturation=_number(item.get("sat"), source=src, key=f"{key}.sat", optional=True),
            request_rate=_number(item.get("rps"), source=src, key=f"{key}.rps", optional=True),
            ts=default_ts if ts is None else parse_time(ts, source=src, key=f"{key}.ts"),
        )
    return out


def read_weights(path: Path, regions: list[str]) -> dict[str, int]:
    """Parse a weights file (``[{region, weight}]``); whole percents adding to 100."""
    src = str(path)
    doc = _load_json(path)
    if not isinstance(doc, list):
        raise UserError('expected a list of {"region": ..., "weight": ...}', source=src)
    shares: dict[str, int] = {}
    for i, item in enumerate(doc):
        key = f"[{i}]"
        if not isinstance(item, dict) or "region" not in item or "weight" not in item:
            raise UserError('expected {"region": ..., "weight": ...}', source=src, key=key)
        region, weight = item["region"], item["weight"]
        if region not in regions:
            raise UserError(
                f"expected one of the stack's regions {regions}, found {region!r}",
                source=src,
                key=f"{key}.region",
            )
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not 0 <= weight <= 100
            or int(weight) != weight
        ):
            raise UserError(
                f"expected a whole percent 0..100, found {weight!r}",
                source=src,
                key=f"{key}.weight",
            )
        shares[region] = int(weight)
    missing = sorted(set(regions) - set(shares))
    if missing:
        raise UserError(f"no weight for {missing}", source=src)
    if sum(shares.values()) != 100:
        raise UserError(f"weights must add up to 100, found {sum(shares.values())}", source=src)
    return shares


def read_state(path: Path | None) -> State | None:
    """The saved controller state, or ``None`` when there is no file yet."""
    if path is None or not path.exists():
        return None
    doc = _load_json(path)
    try:
        return State.from_dict(doc)
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        raise UserError(
            f"not a traffic controller state file ({err!r})", source=str(path)
        ) from None


def write_json_atomic(path: Path, doc: Any) -> None:
    """Write JSON via a temp file + rename so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def pin_from_config(raw: dict[str, Any] | None, source: str) -> Pin | None:
    """The pin stored at ``summit-platform:traffic.pin`` (``None`` when unset)."""
    if not raw:
        return None
    key = f"{PROJECT}:traffic.pin"
    shares = raw.get("shares")
    if not isinstance(shares, dict) or not shares:
        raise UserError("expected shares {region: percent}", source=source, key=f"{key}.shares")
    if "expiresAt" not in raw:
        raise UserError("required key is missing", source=source, key=f"{key}.expiresAt")
    return Pin(
        shares={str(r): int(v) for r, v in shares.items()},
        reason=str(raw.get("reason", "")),
        expires_at=parse_time(raw["expiresAt"], source=source, key=f"{key}.expiresAt"),
        by=str(raw.get("by", "unknown")),
        at=parse_time(raw.get("at", 0), source=source, key=f"{key}.at"),
    )


def policy_from_config(cfg: StackConfig, source: str) -> Policy:
    """The controller policy of a stack: regions' natural shares, SLO thresholds, guardrails."""
    t = cfg.traffic
    return Policy(
        natural={r.name: r.natural_share for r in cfg.regions},
        floor_percent=t.floor_percent,
        p95_seconds=cfg.slo.p95_ms / 1000.0,
        error_ratio=cfg.slo.error_ratio,
        saturation=cfg.slo.saturation,
        breach_hold=t.breach_hold,
        recovery_hold=t.recovery_hold,
        step_percent=t.step_percent,
        stale_after_seconds=t.stale_after_seconds,
        pin=pin_from_config(t.pin, source),
    )
