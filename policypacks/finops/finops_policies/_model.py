"""Import the project's cost model (``summit_platform.automation.finops.cost``) for the policies.

The embedded lane runs this pack with the project's venv (the project installed with
``pip install -e .``); the cloud lane installs it through requirements.txt (``-e ../..``).
When neither installed it (a bare checkout), the repository root two folders up is put on
``sys.path`` so the pack still prices with the very model ``summit finops estimate`` uses.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

try:
    from summit_platform.automation.finops import cost
except ImportError:  # pragma: no cover - exercised only in a bare checkout
    # map the namespace onto the checkout's folders, as the installed package does
    sys.modules["summit_platform"] = types.ModuleType("summit_platform")
    sys.modules["summit_platform"].__path__ = [str(Path(__file__).resolve().parents[3])]
    from summit_platform.automation.finops import cost

__all__ = ["cost"]
