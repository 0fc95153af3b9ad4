"""The copy-paste example in docs/asgi.md runs as written, behind a real server."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from _writ_http_server import serve

from factory import Cast
from writ.http import WritAuth

DOC = Path(__file__).resolve().parents[2] / "docs" / "asgi.md"


def test_the_documented_app_is_protected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snippet = re.search(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert snippet is not None
    cast = Cast(now=int(time.time()))
    chain = cast.root({"refund_order": {"id": {"constraint_type": "one_of", "values": ["41"]}}})

    def make_app(origin: str) -> Any:
        x = cast.principal.public_key.jwk["x"]
        (tmp_path / "receiver.toml").write_text(
            f'audience = "{origin}"\n[[trust_anchors]]\n'
            f'iss = "https://security.target.example"\n'
            f'jwk = {{ kty = "OKP", crv = "Ed25519", x = "{x}" }}\n')
        monkeypatch.chdir(tmp_path)
        namespace: dict[str, Any] = {}
        exec(snippet.group(1), namespace)  # noqa: S102 - the documented example, verbatim
        return namespace["app"]

    with serve(make_app) as origin:
        with httpx.Client(auth=WritAuth(chain, cast.agents[0])) as client:
            ok = client.post(f"{origin}/v1/orders/41/refund", json={})
            other = client.post(f"{origin}/v1/orders/42/refund", json={})
        bare = httpx.post(f"{origin}/v1/orders/41/refund", json={})
    assert ok.status_code == 200 and ok.json() == {"refunded": "41",
                                                   "for": "https://security.target.example"}
    assert other.status_code == 403 and other.json()["code"] == "argument_violation"
    assert bare.status_code == 401 and bare.json()["code"] == "proof_missing"
