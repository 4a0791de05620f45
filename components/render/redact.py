"""Redaction for everything the CLI prints or logs: URLs lose their credentials, query strings
and secret-bearing paths; values echoed in errors are cut to a short prefix.

A Prometheus or OpenCost URL may carry ``user:pass@``; a webhook URL *is* a secret (the path
is the token); a query string may hold a signature or a key. Messages show enough to find the
setting (scheme, host, port, and the path where it is not a secret) and nothing more.

It lives in ``components/render`` (pure, no Pulumi) so that the config model in ``stacks/`` and
the ``summit`` CLI in ``automation/`` redact alike.
Text from a file can also carry characters a terminal acts on (escape sequences, bidirectional
overrides that reorder what is shown): :func:`printable` writes them as ``\\uXXXX``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
_URL = re.compile(r"""\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'"<>]+""")
_SECRET_PATH_HOSTS = ("hooks.slack.com", "discord.com", "outlook.office.com", "webhook.office.com")


def redact_url(url: str, *, keep_path: bool = True) -> str:
    """``https://user:pw@host:9090/api?token=x`` -> ``https://***@host:9090/api?***``.

    ``keep_path=False`` (webhooks: the path is the token) keeps only scheme and host. A value
    that does not parse as a URL is masked whole."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK
    if not parts.scheme or not host:
        return MASK
    netloc = (f"{MASK}@" if parts.username or parts.password else "") + host + port
    secret_path = not keep_path or any(host.endswith(h) for h in _SECRET_PATH_HOSTS)
    path = ("/" + MASK if parts.path.strip("/") else "") if secret_path else parts.path
    query = MASK if parts.query else ""
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def redact_text(text: str) -> str:
    """Every URL inside ``text`` redacted with :func:`redact_url`. Punctuation that ends a
    sentence or a label (``http://host: p95 ...``, ``(see http://host).``) stays outside the
    URL, so the text around it reads as before."""

    def one(m: re.Match[str]) -> str:
        url = m.group(0)
        core = url.rstrip(".,:;!?)]}")
        return redact_url(core) + url[len(core) :]

    return _URL.sub(one, text)


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on or hide (control characters and
    tabs, bidirectional overrides, zero-width and other format characters, lone surrogates)
    written as a ``\\xXX``/``\\uXXXX`` escape, so what is shown is what the file holds."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode()
        for c in text
    )


def short(value: object, limit: int = 24) -> str:
    """A short, redacted prefix of a value for an error message (never the whole value)."""
    try:
        text = redact_text(value if isinstance(value, str) else repr(value))
    except ValueError:  # an int too long to print (more than 4300 digits)
        return "a number of more than 4300 digits"
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."
