"""What a canary weight means without traffic routing: Argo Rollouts' replica split.

Without ``trafficRouting`` a Rollout cannot send 10 % of requests to the canary; it runs a
number of canary pods next to the stable ones and the Service in front spreads requests over
all of them. The canary's share of requests is its share of pods, and pods are whole: with 3
replicas a ``setWeight: 10`` step runs 1 canary pod next to 3 stable ones, 25 % of requests.

:func:`replica_split` follows the controller's rule (``approximateWeightedCanaryStableReplica
Counts`` in argo-rollouts ``utils/replicaset/canary.go``, v1.3 and later): of the canary
counts ``ceil`` and ``floor`` of ``replicas x weight``, over ``replicas`` pods or, when
``maxSurge`` allows a surge, ``replicas + 1`` pods, it takes the one whose share is closest to
the weight; a weight strictly between 0 and 100 never gets 0 canary pods (unless a single
replica may not surge). :func:`split_problems` is the check ``summit deploy`` runs before it
changes anything: a step that no replica count the autoscaler may choose can realise within
the tolerance is refused, with the smallest replica count that would realise it
(:func:`min_replicas_for`, the documented minimum).

Pure: no Pulumi, no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_PERCENT = re.compile(r"^(0|[1-9][0-9]?|100)%$")
SEARCH_LIMIT = 1000
"""Largest replica count :func:`min_replicas_for` looks at."""


def int_or_percent(value: Any, what: str) -> int | str:
    """A pod count (``0``, ``1``, ...) or a percent of the desired pods (``"25%"``), as
    Kubernetes' IntOrString takes them for ``maxSurge``/``maxUnavailable``; ``ValueError``
    naming ``what`` otherwise."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and _PERCENT.match(value.strip()):
        return value.strip()
    raise ValueError(
        f"{what}: expected a pod count (0, 1, 2, ...) or a percent of the desired pods"
        f" such as '25%', found {value!r}"
    )


def scaled(value: int | str, replicas: int, *, round_up: bool) -> int:
    """Pods that ``value`` stands for with ``replicas`` desired (Kubernetes rounds a surge
    up and an unavailable allowance down)."""
    if isinstance(value, int):
        return value
    percent = int(value.rstrip("%"))
    whole, rest = divmod(replicas * percent, 100)
    return whole + (1 if round_up and rest else 0)


def check_surge(max_surge: int | str, max_unavailable: int | str) -> None:
    """Both 0 is refused, as Argo Rollouts refuses it: a step could neither add a pod above
    the desired count nor take one away, so it could never move."""
    zero = {0, "0%"}
    if max_surge in zero and max_unavailable in zero:
        raise ValueError(
            "maxSurge and maxUnavailable: expected at least one above 0 (a step could neither"
            " add nor remove a pod), found both 0"
        )


def replica_split(replicas: int, weight: int, surge_pods: int) -> tuple[int, int]:
    """(canary, stable) pods for ``weight`` percent with ``replicas`` desired and
    ``surge_pods`` of allowed surge, as the Argo Rollouts controller picks them."""
    if replicas <= 0:
        return 0, 0
    exact = replicas * weight
    ceil, floor = -(-exact // 100), exact // 100
    zero_allowed = weight in (0, 100) or (replicas == 1 and surge_pods == 0)
    options: list[tuple[int, int]] = []
    if ceil < replicas or zero_allowed:
        options.append((ceil, replicas))
    if not _tied(weight, replicas) and (floor != 0 or zero_allowed):
        options.append((floor, replicas))
    if surge_pods > 0:
        options.append((ceil, replicas + 1))
        if not _tied(weight, replicas + 1) and (floor != 0 or zero_allowed):
            options.append((floor, replicas + 1))
    if not options:
        return 0, replicas
    best = options[0]
    for option in options[1:]:  # the first of equally close options wins, as in Go
        if _delta(weight, *option) < _delta(weight, *best):
            best = option
    canary, total = best
    return canary, total - canary


def _tied(weight: int, total: int) -> bool:
    # In floating point as the controller computes it (15 x 0.1 is not exactly 1.5 there
    # either), so the same counts come out.
    return math.modf(total * (weight / 100))[0] == 0.5


def _delta(weight: int, canary: int, total: int) -> float:
    return abs(100.0 * canary / total - weight)


def canary_share(replicas: int, weight: int, max_surge: int | str) -> float:
    """Percent of requests the canary gets at ``weight`` with ``replicas`` (pods spread
    requests evenly)."""
    canary, stable = replica_split(replicas, weight, scaled(max_surge, replicas, round_up=True))
    return 100.0 * canary / (canary + stable) if canary + stable else 0.0


def min_replicas_for(weight: int, max_surge: int | str, tolerance: float) -> int | None:
    """The documented minimum: the smallest replica count from which every count up to
    :data:`SEARCH_LIMIT` gives ``weight`` within ``tolerance`` percentage points; None when
    there is none below the limit."""
    found = None
    for n in range(SEARCH_LIMIT, 0, -1):
        if abs(canary_share(n, weight, max_surge) - weight) > tolerance:
            return found
        found = n
    return found


@dataclass(frozen=True)
class SplitProblem:
    """A canary step that no replica count in the autoscaler's range realises."""

    index: int
    """Index of the ``setWeight`` step."""
    weight: int
    best_share: float
    """The closest share of requests any allowed replica count gives."""
    best_replicas: int
    """The replica count that gives it."""
    needed: int | None
    """The documented minimum replica count for this weight (None: none found)."""

    def describe(self) -> str:
        """One line for people."""
        need = (
            f"{self.needed} or more replicas realise it"
            if self.needed
            else "no replica count realises it"
        )
        return (
            f"steps[{self.index}] setWeight {self.weight}: at best {self.best_share:.0f}% of"
            f" requests ({self.best_replicas} replicas); {need}"
        )


def split_problems(
    steps: Sequence[Mapping[str, Any]],
    *,
    min_replicas: int,
    max_replicas: int,
    max_surge: int | str,
    tolerance: float,
) -> list[SplitProblem]:
    """Every ``setWeight`` strictly between 0 and 100 that no replica count in
    ``min_replicas..max_replicas`` (what the autoscaler may run) realises within
    ``tolerance`` percentage points."""
    out = []
    counts = range(max(min_replicas, 1), max(max_replicas, min_replicas, 1) + 1)
    for i, step in enumerate(steps):
        weight = step.get("setWeight")
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 < weight < 100:
            continue
        shares = [(abs(canary_share(n, weight, max_surge) - weight), n) for n in counts]
        error, n = min(shares)
        if error > tolerance:
            out.append(
                SplitProblem(
                    index=i,
                    weight=weight,
                    best_share=canary_share(n, weight, max_surge),
                    best_replicas=n,
                    needed=min_replicas_for(weight, max_surge, tolerance),
                )
            )
    return out


def floor_shares(
    steps: Sequence[Mapping[str, Any]], replicas: int, max_surge: int | str
) -> list[tuple[int, int, float]]:
    """(index, weight, share of requests) of every weight step at ``replicas`` pods: what a
    canary at the autoscaler's floor really sends to the new version."""
    return [
        (i, w, canary_share(replicas, w, max_surge))
        for i, s in enumerate(steps)
        if isinstance(w := s.get("setWeight"), int) and not isinstance(w, bool)
    ]
