"""transparency-dev/merkle probes: every one gives its expected verdict (tests/vectors/merkle)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from writ.log._merkle import verify_consistency, verify_inclusion

VECTORS = Path(__file__).parent.parent / "vectors" / "merkle" / "testdata"


def _load(kind: str) -> list[Any]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    return [pytest.param(json.loads(f.read_text()), id=str(f.relative_to(VECTORS))) for f in files]


def _b(text: str) -> bytes:
    return base64.b64decode(text)


def _proof(probe: dict[str, Any]) -> list[bytes]:
    return [_b(p) for p in probe["proof"] or []]


INCLUSION = _load("inclusion")
CONSISTENCY = _load("consistency")


def test_all_probes_are_loaded() -> None:
    # The copied folder holds 98 probes of each kind; a silent glob miss must fail.
    assert len(INCLUSION) == 98
    assert len(CONSISTENCY) == 98


@pytest.mark.parametrize("probe", INCLUSION)
def test_inclusion_probe(probe: dict[str, Any]) -> None:
    ok = verify_inclusion(
        _b(probe["leafHash"]), probe["leafIdx"], probe["treeSize"], _proof(probe), _b(probe["root"])
    )
    assert ok is (not probe["wantErr"]), probe["desc"]


@pytest.mark.parametrize("probe", CONSISTENCY)
def test_consistency_probe(probe: dict[str, Any]) -> None:
    ok = verify_consistency(
        probe["size1"], probe["size2"], _proof(probe), _b(probe["root1"]), _b(probe["root2"])
    )
    assert ok is (not probe["wantErr"]), probe["desc"]
