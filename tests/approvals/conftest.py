"""Make the MCP and HTTP test harnesses importable from here (pytest puts only this folder on
sys.path), and share the approval-gated world."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parent.parent
for folder in (_TESTS / "mcp", _TESTS / "http"):
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
