"""Make the MCP tests' helpers importable here (tests/mcp has no package __init__)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mcp"))
