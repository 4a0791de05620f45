"""Import the project's spill-over model (``summit_platform.components.render.spill``) and pin reader
(``summit_platform.components.render.traffic_pin``) for the floor and pin policies.

The traffic controller steers with that module, the Pulumi program derives a pin's dials with
it, and ``traffic-dial-floor`` checks with it, so the three cannot disagree about what a dial
serves. The embedded lane runs this pack with the project's venv python (the project installed
with ``pip install -e .``); the cloud lane installs the project into the pack's own venv
through requirements.txt (``-e ../..``). When neither installed it (a bare checkout), the
repository root two folders up is put on ``sys.path``: the module needs nothing but the
standard library (``components/__init__.py`` and ``components/render/__init__.py`` are empty).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

try:
    from summit_platform.components.render import spill, traffic_pin
except ImportError:  # a bare checkout: tests/test_guardrails.py runs the pack this way
    # map the namespace onto the checkout's folders, as the installed package does
    sys.modules["summit_platform"] = types.ModuleType("summit_platform")
    sys.modules["summit_platform"].__path__ = [str(Path(__file__).resolve().parents[3])]
    from summit_platform.components.render import spill, traffic_pin

__all__ = ["spill", "traffic_pin"]
