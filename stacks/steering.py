"""What the program plans for steering: each region's dial, from the config or from an active
pin, and the Route53 weights those dials mean.

``summit traffic pin`` writes ``traffic.pin``; while it is active (:mod:`summit_platform.components.render.
traffic_pin`) the dials derive from its shares through the spill-over model
(:mod:`summit_platform.components.render.spill`), so ``pulumi up`` alone realises the pin. An expired or
unreadable pin is ignored: the configured dials apply (the guardrails pack reports an expired
pin as advisory and keeps the floor). The clock is read once per program run, by the caller.
"""

from __future__ import annotations

from typing import Any

from summit_platform.components.render import spill
from summit_platform.components.render.traffic_pin import PinStatus, read_pin
from summit_platform.stacks.config import StackConfig


def pin_value(cfg: StackConfig) -> Any:
    """``traffic.pin`` as plain values (a model, should it become one, dumped by alias)."""
    pin = cfg.traffic.pin
    dump = getattr(pin, "model_dump", None)
    return dump(by_alias=True, mode="json") if callable(dump) else pin


def natural_shares(cfg: StackConfig) -> dict[str, float]:
    """Region -> natural share (percent)."""
    return {r.name: r.natural_share for r in cfg.regions}


def planned_dials(cfg: StackConfig, now: float) -> tuple[dict[str, int], PinStatus]:
    """The dials the program sets at ``now`` and the pin's state: an active pin's dials
    (:func:`summit_platform.components.render.spill.dials_for_shares`, no floor: a pin may go under it), else
    the configured ``regions[].dial``."""
    status = read_pin(pin_value(cfg), cfg.region_names, now)
    if status.active:
        return spill.dials_for_shares(status.shares, natural_shares(cfg), 0), status
    return {r.name: r.dial for r in cfg.regions}, status


def planned_weights(dials: dict[str, int], cfg: StackConfig) -> dict[str, int]:
    """Route53 weights that serve what ``dials`` would (one meaning of a dial in both modes)."""
    return spill.route53_weights(dials, natural_shares(cfg))
