"""Assemble the guardrails pack. Constructing the PolicyPack starts the analyzer server, so the
policies live in summit_guardrails (importable by tests) and nothing else happens here."""

from pulumi_policy import EnforcementLevel, PolicyPack
from summit_guardrails import POLICIES

PolicyPack(
    name="summit-guardrails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
