"""Slack-compatible webhook alerts: an estimate crossing its budget, GC destroying stacks.

The payload is Slack's incoming-webhook shape (``text`` plus ``blocks`` with one ``section`` of
``mrkdwn``), which Mattermost, Rocket.Chat and most chat bridges accept too. Building the
payload is pure; :func:`post` is the only network call, bounded by a timeout.

A webhook URL is a secret (its path is the token): :func:`check_url` refuses a malformed one
before anything runs, and no message ever shows more than its scheme and host.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from summit_platform.automation.errors import CheckFailed, UserError
from summit_platform.automation.safe_io import dumps_json
from summit_platform.components.render.redact import redact_text, redact_url


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


def shown(url: str) -> str:
    """The webhook as messages show it: scheme and host, the secret path masked."""
    return redact_url(url, keep_path=False)


def check_url(url: str, key: str) -> str:
    """``url`` when it is an http(s) URL with a host; :class:`UserError` naming ``key`` (the
    flag or the environment variable) otherwise. The message never holds the whole URL."""
    try:
        parts = urllib.parse.urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        ok = False
    if not ok or any(c.isspace() or not c.isprintable() for c in url):
        what = shown(url) if ok else "a value that is not one (not shown: it may be a secret)"
        raise UserError(f"expected an http(s) webhook URL, found {what}", key=key)
    return url


def post(url: str, payload: dict[str, Any], *, timeout: float = 10.0) -> None:
    """POST the payload as JSON. A non-2xx answer or no answer raises ``CheckFailed``; no
    message holds the webhook's secret path."""
    body = dumps_json(payload, indent=None).encode()
    where = shown(url)
    try:
        req = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            if not 200 <= resp.status < 300:
                raise CheckFailed(f"webhook {where} answered HTTP {resp.status}")
    except urllib.error.HTTPError as err:
        raise CheckFailed(f"webhook {where} answered HTTP {err.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise CheckFailed(f"webhook {where} not reachable: {_no_url(reason, url)}") from None
    except ValueError:  # urllib's "unknown url type" and the like quote the whole URL
        raise CheckFailed(f"webhook {where} is not a URL urllib can open") from None


def _no_url(reason: object, url: str) -> str:
    """An error's text without the webhook URL or any part of its path."""
    text = redact_text(str(reason)).replace(url, shown(url))
    path = urllib.parse.urlsplit(url).path
    return text.replace(path, "/***") if len(path) > 1 else text
