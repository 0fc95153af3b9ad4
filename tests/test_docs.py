"""Docs that state contracts are checked against the code."""

from __future__ import annotations

import re
from pathlib import Path

import writ

DOCS = Path(__file__).parent.parent / "docs"


def test_decision_code_table_is_exhaustive() -> None:
    listed = re.findall(r"^\| `([a-z_]+)` \|", (DOCS / "decision-codes.md").read_text(), re.MULTILINE)
    assert listed == list(writ.CODES)


def test_public_api_is_sorted_and_resolves() -> None:
    # isort-style, as ruff's RUF022 keeps it: CONSTANTS, then Classes, then functions.
    def kind(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert writ.__all__ == sorted(writ.__all__, key=kind)
    for name in writ.__all__:
        assert getattr(writ, name) is not None
