"""Whether a stack can be steered at all, asked before a command changes anything.

In route53 mode the records are weighted (steerable) only when the traffic controller is
enabled; otherwise they route by latency, and a dial or a pin would be written where nothing
reads it. ``pin``, ``apply`` and a ``run`` that applies refuse such a stack with exit 2 and say
what to change, instead of writing config the program then rejects."""

from __future__ import annotations

from summit_platform.automation.errors import UserError
from summit_platform.stacks.config import PROJECT, StackConfig


def refuse_unsteerable(cfg: StackConfig, source: str) -> None:
    """Raise :class:`UserError` (exit 2) when nothing could realise a dial or a pin."""
    if cfg.traffic.mode == "route53" and not cfg.traffic.controller.enabled:
        raise UserError(
            "route53 mode routes by latency unless traffic.controller.enabled (weighted"
            " records): a dial or a pin would be ignored; enable the controller or use ga mode",
            source=source,
            key=f"{PROJECT}:traffic.controller.enabled",
        )
