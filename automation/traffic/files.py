"""Reading and writing the traffic commands' files, with errors that name the file and key.

- metrics.json (documented in docs/traffic.md): ``{"regions":[{"name": "us-east-1",
  "p95": 0.42, "err": 0.002, "sat": 0.55}, ...]}``; optional per region ``rps`` and ``ts``
  (unix seconds or ISO 8601) and a top-level ``ts``; without a timestamp a sample counts as
  taken now. ``null``, ``"NaN"`` and other values the controller cannot use are "no data"
  (it holds); a file that is not JSON, or of the wrong shape, is an error.
- weights.json: what ``summit traffic compute --json`` writes, a list of
  ``{"region": ..., "weight": <percent>}`` (extra fields such as ``dial`` and ``reason`` are
  allowed and ignored).
- the controller state file (JSON, see :meth:`State.to_dict`): validated key by key before it
  is trusted (a hand-edited streak of -1 or shares of 500/-400 would otherwise switch shedding
  off or mis-steer), written atomically.
- the policy and the pin, built from the typed stack config.

Every file is read through :mod:`summit_platform.automation.safe_io` (invalid UTF-8 named by byte offset,
duplicate keys, NaN/Infinity and overflowing numbers refused) and written through it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from summit_platform.automation import safe_io
from summit_platform.automation.errors import UserError
from summit_platform.automation.traffic.controller import (
    Pin,
    Policy,
    RegionState,
    Sample,
    State,
    whole_shares,
)
from summit_platform.components.render.redact import short
from summit_platform.components.render.spill import region_loads
from summit_platform.stacks.config import StackConfig, TrafficPin

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
"""A numeric string: ASCII digits only (``float()`` also reads Arabic-Indic and full-width
digits and ``1_000``)."""
_NOT_A_NUMBER = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
"""What exporters write for "no data" (Prometheus: ``NaN``, ``+Inf``): read, then held on."""
MAX_STREAK = 10**9
"""A streak longer than this was not counted by the controller (30 years at 1 s)."""


def _found(value: Any) -> str:
    """A value for an error message: a short, redacted prefix of a string (quoted), other
    values as JSON would show them (cut short)."""
    if isinstance(value, str):
        return short(value)
    text = "null" if value is None else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer with hundreds of digits
        return math.inf if value > 0 else -math.inf


def parse_time(value: Any, *, source: str, key: str) -> float:
    """Unix seconds from a finite number or an ISO 8601 string (``Z`` allowed, no zone = UTC)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        ts = _float(value)
        if math.isfinite(ts):
            return ts
    if isinstance(value, str) and value.isascii():
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            return parsed.timestamp()
    raise UserError(
        f"expected unix seconds or an ISO 8601 time, found {_found(value)}", source=source, key=key
    )


def iso(ts: float) -> str:
    """Unix seconds -> ``2026-11-27T12:00:00Z``."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: Any, *, source: str, key: str, optional: bool = False) -> float | None:
    """A signal's value: a JSON number or a numeric string. ``null`` is no data (NaN, or
    ``None`` for an optional signal); NaN and infinities are read and left to the controller,
    which holds on them; anything else is an error."""
    if value is None:
        # null is how exporters say "no data": the controller treats NaN as missing.
        return None if optional else math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _float(value)
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text) or text.lower() in _NOT_A_NUMBER:
            return float(text)
    raise UserError(f"expected a number, found {_found(value)}", source=source, key=key)


_SAMPLE_KEYS = {"name", "p95", "err", "sat", "rps", "ts"}


def _sample(item: Any, key: str, src: str, default_ts: float) -> Sample:
    if not isinstance(item, dict):
        raise UserError("expected an object", source=src, key=key)
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise UserError("expected a region name", source=src, key=f"{key}.name")
    unknown = set(item) - _SAMPLE_KEYS
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
    return Sample(
        region=name,
        p95_seconds=_number(item["p95"], source=src, key=f"{key}.p95"),  # type: ignore[arg-type]
        error_ratio=_number(item["err"], source=src, key=f"{key}.err"),  # type: ignore[arg-type]
        saturation=_number(item.get("sat"), source=src, key=f"{key}.sat", optional=True),
        request_rate=_number(item.get("rps"), source=src, key=f"{key}.rps", optional=True),
        ts=default_ts if ts is None else parse_time(ts, source=src, key=f"{key}.ts"),
    )


def read_metrics(path: Path, now: float) -> dict[str, Sample]:
    """Parse a metrics file (``{"regions": [{name, p95, err, ...}]}``) into samples by region."""
    src = str(path)
    doc = safe_io.load_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("regions"), list):
        raise UserError('expected {"regions": [...]}', source=src, key="regions")
    top_ts = doc.get("ts")
    default_ts = now if top_ts is None else parse_time(top_ts, source=src, key="ts")
    out: dict[str, Sample] = {}
    for i, item in enumerate(doc["regions"]):
        sample = _sample(item, f"regions[{i}]", src, default_ts)
        if sample.region in out:
            raise UserError(
                f"region {sample.region!r} listed twice", source=src, key=f"regions[{i}].name"
            )
        out[sample.region] = sample
    return out


def _whole_percent(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not 0 <= value <= 100 or int(value) != value:
        return None
    return int(value)


def read_weights(path: Path, regions: list[str]) -> dict[str, int]:
    """Parse a weights file (``[{region, weight}]``); whole percents adding to 100, each of
    ``regions`` exactly once."""
    src = str(path)
    doc = safe_io.load_json(path)
    if not isinstance(doc, list):
        raise UserError('expected a list of {"region": ..., "weight": ...}', source=src)
    shares: dict[str, int] = {}
    for i, item in enumerate(doc):
        key = f"[{i}]"
        if not isinstance(item, dict) or "region" not in item or "weight" not in item:
            raise UserError('expected {"region": ..., "weight": ...}', source=src, key=key)
        region, weight = item["region"], item["weight"]
        if not isinstance(region, str) or region not in regions:
            raise UserError(
                f"expected one of the stack's regions {regions}, found {_found(region)}",
                source=src,
                key=f"{key}.region",
            )
        if region in shares:
            raise UserError(f"region {region!r} listed twice", source=src, key=f"{key}.region")
        pct = _whole_percent(weight)
        if pct is None:
            raise UserError(
                f"expected a whole percent 0..100, found {_found(weight)}",
                source=src,
                key=f"{key}.weight",
            )
        shares[region] = pct
    missing = sorted(set(regions) - set(shares))
    if missing:
        raise UserError(f"no weight for {missing}", source=src)
    if sum(shares.values()) != 100:
        raise UserError(f"weights must add up to 100, found {sum(shares.values())}", source=src)
    return shares


# ------------------------------------------------------------------------------------ state


def _count(value: Any, src: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_STREAK:
        raise UserError(
            f"expected a whole number 0..{MAX_STREAK}, found {_found(value)}", source=src, key=key
        )
    return value


def _region_state(value: Any, src: str, key: str) -> RegionState:
    if not isinstance(value, dict):
        raise UserError("expected an object", source=src, key=key)
    fields = {"mode", "breachStreak", "healthyStreak", "shedWeight"}
    if set(value) != fields:
        raise UserError(
            f"expected exactly the keys {sorted(fields)}, found {sorted(value)}",
            source=src,
            key=key,
        )
    mode, weight = value["mode"], value["shedWeight"]
    if mode not in ("ok", "shed"):
        raise UserError(f"expected ok or shed, found {_found(mode)}", source=src, key=f"{key}.mode")
    # A shed region remembers its shed weight (natural share x score, so 0..10000); a region
    # that is ok has none. Anything else was not written by the controller.
    ok_weight = (
        weight is None
        if mode == "ok"
        else isinstance(weight, int | float)
        and not isinstance(weight, bool)
        and 0 <= weight <= 10_000
    )
    if not ok_weight:
        expected = "null" if mode == "ok" else "a number 0..10000"
        raise UserError(
            f"expected {expected} for a region that is {mode}, found {_found(weight)}",
            source=src,
            key=f"{key}.shedWeight",
        )
    return RegionState(
        mode=mode,
        breach_streak=_count(value["breachStreak"], src, f"{key}.breachStreak"),
        healthy_streak=_count(value["healthyStreak"], src, f"{key}.healthyStreak"),
        shed_weight=None if weight is None else float(weight),
    )


def state_from_doc(doc: Any, src: str) -> State:
    """Validate a state document key by key (see :meth:`State.to_dict`) and build the
    :class:`State`; :class:`UserError` naming the key otherwise."""
    if not isinstance(doc, dict):
        raise UserError("expected a traffic controller state (a JSON object)", source=src)
    known = {"version", "shares", "regions", "pinned", "evaluations", "lastAt"}
    if set(doc) - known or not {"version", "shares", "regions"} <= set(doc):
        raise UserError(f"expected the keys {sorted(known)}, found {sorted(doc)}", source=src)
    if doc["version"] != 1 or isinstance(doc["version"], bool):
        raise UserError(f"expected 1, found {_found(doc['version'])}", source=src, key="version")
    shares_doc, regions_doc = doc["shares"], doc["regions"]
    if not isinstance(shares_doc, dict) or not shares_doc:
        raise UserError("expected {region: percent}", source=src, key="shares")
    if not isinstance(regions_doc, dict) or sorted(regions_doc) != sorted(shares_doc):
        raise UserError("expected the same regions as shares", source=src, key="regions")
    shares: dict[str, int] = {}
    for region, value in shares_doc.items():
        pct = _whole_percent(value)
        if pct is None:
            raise UserError(
                f"expected a whole percent 0..100, found {_found(value)}",
                source=src,
                key=f"shares.{region}",
            )
        shares[region] = pct
    if sum(shares.values()) != 100:
        raise UserError(f"expected shares adding to 100, found {sum(shares.values())}", source=src)
    pinned, last = doc.get("pinned", False), doc.get("lastAt")
    if not isinstance(pinned, bool):
        raise UserError(f"expected true or false, found {_found(pinned)}", source=src, key="pinned")
    if last is not None and (
        isinstance(last, bool) or not isinstance(last, int | float) or not math.isfinite(last)
    ):
        raise UserError(f"expected unix seconds, found {_found(last)}", source=src, key="lastAt")
    return State(
        shares=shares,
        regions={r: _region_state(v, src, f"regions.{r}") for r, v in regions_doc.items()},
        pinned=pinned,
        evaluations=_count(doc.get("evaluations", 0), src, "evaluations"),
        last_at=None if last is None else float(last),
    )


def read_state(path: Path | None) -> State | None:
    """The saved controller state, or ``None`` when there is no file yet. A file that does not
    validate is an error (:class:`UserError`) naming the key: it is never trusted."""
    if path is None or not path.exists():
        return None
    return state_from_doc(safe_io.load_json(path), str(path))


def write_state(path: Path, state: State) -> None:
    """Write the state atomically (lock, temp file, fsync, rename)."""
    safe_io.atomic_write(path, safe_io.dumps_json(state.to_dict(), sort_keys=True))


# ------------------------------------------------------------------------------- from config


def _ts(value: dt.datetime) -> float:
    return value.timestamp()


def pin_from_config(pin: TrafficPin | None) -> Pin | None:
    """The controller's pin from the validated ``summit-platform:traffic.pin`` (``None`` when
    unset). The config model has already checked it (stacks/config.py ``TrafficPin``)."""
    if pin is None:
        return None
    return Pin(
        shares=dict(pin.shares),
        reason=pin.reason,
        expires_at=_ts(pin.expires_at),
        by=pin.by,
        at=_ts(pin.at),
    )


def policy_from_config(cfg: StackConfig, source: str | None = None) -> Policy:
    """The controller policy of a stack: regions' natural shares, SLO thresholds, guardrails.
    (``source``, the stack file, is accepted for callers that name it; the config model has
    already validated everything.)"""
    del source
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
        pin=pin_from_config(t.pin),
    )


def applied_shares(cfg: StackConfig) -> dict[str, int]:
    """The shares the stack's configured dials deliver (GA's spill-over model), as whole
    percents adding to 100: what is applied now, for :func:`controller.safe_state`."""
    natural: Mapping[str, float] = {r.name: r.natural_share for r in cfg.regions}
    loads = region_loads({r.name: r.dial for r in cfg.regions}, natural)
    return whole_shares(loads)
