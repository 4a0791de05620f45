"""LeaseTable: the DynamoDB table the traffic controllers elect their leader in.

One table per stack (not per region): the controllers of every region compete for one lease
item with conditional writes, and the leader keeps its state (hold counters, last shares,
last decision) in a second item, so whoever leads next resumes where it stopped. On demand
(a few small reads and writes a second), tagged, deletion-protected: losing the table loses
the controller's memory, never traffic. The schema (one string key, ``pk``) comes from
:mod:`summit_platform.components.render.traffic_controller`, which ``summit traffic run --create-lease-table``
uses too. Give the component the AWS provider of the table's region through
``ResourceOptions(provider=...)``.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from summit_platform.components.args import ComponentArgs
from summit_platform.components.render import traffic_controller as tc

TOKEN = "summit:traffic:LeaseTable"


class LeaseTableArgs(ComponentArgs):
    """Inputs of :class:`LeaseTable`."""

    table_name: str
    """Physical table name: the controllers are configured with it, so it is not auto-named."""
    tags: dict[str, str]
    """Cost-allocation tags."""
    deletion_protection: bool = True
    """Refuse a delete (a ``pulumi destroy`` must turn this off first)."""


class LeaseTable(pulumi.ComponentResource):
    """The table and its name and ARN."""

    table: aws.dynamodb.Table
    table_name: pulumi.Output[str]
    table_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: LeaseTableArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TOKEN, name, None, opts)
        self.table = aws.dynamodb.Table(
            f"{name}-table",
            name=args.table_name,
            billing_mode=tc.LEASE_BILLING_MODE,
            hash_key=tc.LEASE_HASH_KEY,
            attributes=[aws.dynamodb.TableAttributeArgs(name=tc.LEASE_HASH_KEY, type="S")],
            deletion_protection_enabled=args.deletion_protection,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.table_name = self.table.name
        self.table_arn = self.table.arn
        self.register_outputs({"table_name": self.table_name, "table_arn": self.table_arn})
