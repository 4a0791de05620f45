"""Redaction for everything the CLI prints or logs (see :mod:`components.render.redact`).

The implementation lives in ``components/render`` so that the config model in ``stacks/``
(which cannot import ``automation``) redacts the values its errors echo the same way."""

from __future__ import annotations

from components.render.redact import MASK, printable, redact_text, redact_url, short

__all__ = ["MASK", "printable", "redact_text", "redact_url", "short"]
