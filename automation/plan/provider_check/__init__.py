"""The provider check: what the real providers and APIs would reject, found offline in the
embedded lane, between recording the resource graph and evaluating the policy packs.

Kubernetes objects are checked against the OpenAPI schema of the configured cluster version
(custom resources against their vendored CRDs) and the API server's own rules; AWS resources
against botocore's service models and documented rules. It is reported like a policy pack
(``pack: "provider-check"``, every problem a mandatory violation, since the real preview would
fail) with a summary: what was checked, which types were not, and how many unknown or secret
values were skipped (they are never failed).

Read the recorded resources as the engine holds them; decide in plain functions
(:mod:`.kubernetes`, :mod:`.aws`); nothing here changes the plan.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import botocore

from summit_platform.automation.plan.analyzer import Violation
from summit_platform.automation.plan.engine import Plan, RecordedResource
from summit_platform.automation.plan.provider_check import aws, kubernetes
from summit_platform.automation.plan.provider_check.model import (
    FAMILIES,
    PACK,
    Problem,
    Tally,
    inputs_of,
)

__all__ = ["PACK", "ProviderCheck", "check_plan", "checkable"]


def checkable(type_: str) -> bool:
    """Whether resources of this type are checked (others are reported as unchecked)."""
    return kubernetes.checkable(type_) or aws.checkable(type_)


def _counted(r: RecordedResource) -> bool:
    """Custom resources a provider would check; the engine's own (stack, stack references)
    have no provider."""
    return r.custom and not r.type.startswith("pulumi:pulumi:")


@dataclass
class ProviderCheck:
    """The check of one stack's recorded graph."""

    kubernetes_version: str
    checked: Counter[str] = field(default_factory=Counter)
    """type -> resources checked."""
    unchecked: Counter[str] = field(default_factory=Counter)
    """type -> resources of a type the check does not cover (never counted as checked)."""
    tally: Tally = field(default_factory=Tally)
    problems: list[tuple[RecordedResource, Problem]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def botocore_version(self) -> str:
        return botocore.__version__

    def violations(self) -> list[Violation]:
        """One mandatory violation per problem, as a pack would report it."""
        return [
            Violation(
                pack=PACK,
                policy=p.family,
                enforcement="mandatory",
                urn=r.urn,
                message=p.message(r.name, r.type),
                description=FAMILIES[p.family],
                severity="high",
            )
            for r, p in self.problems
        ]

    def summary(self) -> dict[str, Any]:
        """The figures the reports show (deterministic: no timing)."""
        return {
            "pack": PACK,
            "enforcement": "mandatory",
            "kubernetesVersion": self.kubernetes_version,
            "botocore": self.botocore_version,
            "checked": sum(self.checked.values()),
            "checkedTypes": dict(sorted(self.checked.items())),
            "unchecked": dict(sorted(self.unchecked.items())),
            "unknownValuesSkipped": self.tally.unknown,
            "secretValuesSkipped": self.tally.secret,
            "problems": len(self.problems),
        }


def check_plan(plan: Plan, kubernetes_version: str) -> ProviderCheck:
    """Check every custom resource of ``plan``; ``kubernetes_version`` is a bundled schema
    version (see :func:`.kubernetes.resolve_version`)."""
    started = time.perf_counter()
    result = ProviderCheck(kubernetes_version)
    for r in plan.resources:
        if not _counted(r):
            continue
        if kubernetes.checkable(r.type):
            problems = kubernetes.check(
                r.type, inputs_of(r, result.tally), kubernetes_version, r.name
            )
        elif aws.checkable(r.type):
            problems = aws.check(r.type, inputs_of(r, result.tally), r.name)
        else:
            result.unchecked[r.type] += 1
            continue
        result.checked[r.type] += 1
        result.problems += [(r, p) for p in problems]
    result.seconds = time.perf_counter() - started
    return result
