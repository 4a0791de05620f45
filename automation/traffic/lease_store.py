"""Leader election, the DynamoDB part: the lease and the controller's state in one table.

Two items per stack, keyed by ``pk`` (the table's schema is
:mod:`summit_platform.components.render.traffic_controller`'s, the one the stack creates):

- ``lease#<stack>``: ``holder``, ``expiresAt`` (ms), ``fencingToken``. Every write is a
  conditional put on the exact item that was read (:mod:`summit_platform.automation.traffic.lease` decides
  what to write), so two controllers never both win.
- ``state#<stack>``: the controller state (hold counters, shares), the last decision, the
  writer's ``fencingToken`` and ``lastAppliedAt``. It is written in one transaction with a
  check that the writer still holds an unexpired lease with its token, and only over a state
  of the same or a lower token: a leader that lost its lease can never overwrite its
  successor's state.

A thin layer over boto3's low-level client (numbers travel as strings: no float rounding).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from summit_platform.automation.traffic.lease import Lease, Step
from summit_platform.components.render import traffic_controller as tc

K = tc.LEASE_HASH_KEY


def _ms(seconds: float) -> str:
    return str(math.floor(seconds * 1000))


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True)
class StateRecord:
    """The state item as the last leader wrote it."""

    state: dict[str, Any]
    decision: dict[str, Any]
    holder: str
    token: int
    updated_at: float
    last_applied_at: float | None


class LeaseStore:
    """The lease and state items of one stack in one table."""

    def __init__(self, client: Any, table: str, stack: str):
        self.client = client
        self.table = table
        self.lease_key = {K: {"S": f"lease#{stack}"}}
        self.state_key = {K: {"S": f"state#{stack}"}}

    def read(self) -> Lease | None:
        """The lease as DynamoDB holds it now (a strongly consistent read)."""
        item = self.client.get_item(TableName=self.table, Key=self.lease_key, ConsistentRead=True)
        doc = item.get("Item")
        if not doc:
            return None
        return Lease(
            holder=doc["holder"]["S"],
            expires_at=int(doc["expiresAt"]["N"]) / 1000,
            token=int(doc["fencingToken"]["N"]),
        )

    def write(self, step: Step, now: float) -> bool:
        """Put ``step.lease`` if the item is still ``step.seen``; False when it changed."""
        if step.lease is None or step.kind == "follow":
            return False
        lease = step.lease
        item = {
            **self.lease_key,
            "holder": {"S": lease.holder},
            "expiresAt": {"N": _ms(lease.expires_at)},
            "fencingToken": {"N": str(lease.token)},
            "writtenAt": {"N": _ms(now)},
        }
        kwargs: dict[str, Any] = {"ConditionExpression": f"attribute_not_exists({K})"}
        if step.seen is not None:
            kwargs = {
                "ConditionExpression": "holder = :h AND expiresAt = :e AND fencingToken = :t",
                "ExpressionAttributeValues": {
                    ":h": {"S": step.seen.holder},
                    ":e": {"N": _ms(step.seen.expires_at)},
                    ":t": {"N": str(step.seen.token)},
                },
            }
        return self._conditional(
            lambda: self.client.put_item(TableName=self.table, Item=item, **kwargs)
        )

    def release(self, lease: Lease, now: float) -> bool:
        """Give the lease up (a clean stop): expire it now if it is still ``lease``."""
        return self._conditional(
            lambda: self.client.update_item(
                TableName=self.table,
                Key=self.lease_key,
                UpdateExpression="SET expiresAt = :now",
                ConditionExpression="holder = :h AND fencingToken = :t",
                ExpressionAttributeValues={
                    ":now": {"N": _ms(now)},
                    ":h": {"S": lease.holder},
                    ":t": {"N": str(lease.token)},
                },
            )
        )

    def load_state(self) -> StateRecord | None:
        """The state item (a strongly consistent read), or None before the first leader."""
        item = self.client.get_item(TableName=self.table, Key=self.state_key, ConsistentRead=True)
        doc = item.get("Item")
        if not doc:
            return None
        applied = doc.get("lastAppliedAt", {}).get("N")
        return StateRecord(
            state=json.loads(doc["state"]["S"]),
            decision=json.loads(doc["decision"]["S"]),
            holder=doc["holder"]["S"],
            token=int(doc["fencingToken"]["N"]),
            updated_at=int(doc["updatedAt"]["N"]) / 1000,
            last_applied_at=None if applied is None else int(applied) / 1000,
        )

    def save_state(
        self,
        lease: Lease,
        now: float,
        margin: float,
        record: tuple[dict[str, Any], dict[str, Any], float | None],
    ) -> bool:
        """Write ``record`` (state, decision, last applied time) fenced by ``lease``: in one
        transaction, only while the lease item still names this holder and token with more
        than ``margin`` seconds left, and only over a state of the same or a lower token."""
        state, decision, applied_at = record
        item = {
            **self.state_key,
            "state": {"S": json.dumps(state, sort_keys=True)},
            "decision": {"S": json.dumps(decision, sort_keys=True)},
            "holder": {"S": lease.holder},
            "fencingToken": {"N": str(lease.token)},
            "updatedAt": {"N": _ms(now)},
        }
        if applied_at is not None:
            item["lastAppliedAt"] = {"N": _ms(applied_at)}
        token = {":t": {"N": str(lease.token)}}
        check = {
            "TableName": self.table,
            "Key": self.lease_key,
            "ConditionExpression": "holder = :h AND fencingToken = :t AND expiresAt > :deadline",
            "ExpressionAttributeValues": {
                ":h": {"S": lease.holder},
                ":deadline": {"N": _ms(now + margin)},
                **token,
            },
        }
        put = {
            "TableName": self.table,
            "Item": item,
            "ConditionExpression": f"attribute_not_exists({K}) OR fencingToken <= :t",
            "ExpressionAttributeValues": token,
        }
        return self._conditional(
            lambda: self.client.transact_write_items(
                TransactItems=[{"ConditionCheck": check}, {"Put": put}]
            )
        )

    @staticmethod
    def _conditional(call: Any) -> bool:
        """Run a conditional write: True when it happened, False when its condition failed."""
        try:
            call()
        except ClientError as err:
            if _code(err) in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                return False
            raise
        return True


def ensure_table(client: Any, table: str) -> bool:
    """Create ``table`` with the stack's schema when it is missing (for local runs and tests);
    True when this call created it. Waits until it is ACTIVE either way."""
    created = False
    try:
        client.describe_table(TableName=table)
    except ClientError as err:
        if _code(err) != "ResourceNotFoundException":
            raise
        try:
            client.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": K, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": K, "AttributeType": "S"}],
                BillingMode=tc.LEASE_BILLING_MODE,
            )
            created = True
        except ClientError as race:  # another controller created it a moment ago
            if _code(race) != "ResourceInUseException":
                raise
    client.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    return created
