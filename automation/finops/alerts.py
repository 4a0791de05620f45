"""Slack-compatible webhook alerts: an estimate crossing its budget, GC destroying stacks.

The payload is Slack's incoming-webhook shape (``text`` plus ``blocks`` with one ``section`` of
``mrkdwn``), which Mattermost, Rocket.Chat and most chat bridges accept too. Building the
payload is pure; :func:`post` is the only network call, bounded by a timeout.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from automation.errors import CheckFailed


def budget_payload(stack: str, total_hourly: Decimal, monthly_budget: float) -> dict[str, Any]:
    monthly = total_hourly * 730
    text = (
        f":rotating_light: `{stack}` estimate ${monthly:,.2f}/month (${total_hourly:.4f}/h)"
        f" crosses its budget of ${monthly_budget:,.2f}/month."
    )
    return _payload(text)


def gc_payload(destroyed: Sequence[str], idle: str) -> dict[str, Any]:
    names = ", ".join(f"`{n}`" for n in destroyed)
    text = f":wastebasket: Preview GC destroyed {len(destroyed)} stack(s) idle over {idle}: {names}"
    return _payload(text)


def _payload(text: str) -> dict[str, Any]:
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def post(url: str, payload: dict[str, Any], *, timeout: float = 10.0) -> None:
    """POST the payload as JSON. A non-2xx answer or no answer raises ``CheckFailed``."""
    body = json.dumps(payload).encode()
    req = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            if not 200 <= resp.status < 300:
                raise CheckFailed(f"webhook answered HTTP {resp.status}")
    except urllib.error.HTTPError as err:
        raise CheckFailed(f"webhook answered HTTP {err.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise CheckFailed(f"webhook not reachable: {err}") from None
