"""Assemble the FinOps pack. Constructing the PolicyPack starts the analyzer server, so the
policies live in finops_policies (importable by tests) and nothing else happens here."""

from finops_policies import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="summit-finops",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
