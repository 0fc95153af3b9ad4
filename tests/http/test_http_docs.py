"""``docs/http.md`` stays true: its example request verifies and its client snippets run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from _writ_http_server import Receiver, serve

from writ._keys import PrivateKey, PublicKey
from writ.http import SignedRequestParts, find_writ_challenge, parse_http_proof, verify_http_proof

DOC = (Path(__file__).parent.parent.parent / "docs" / "http.md").read_text()
DOC_ORIGIN = "https://api.example.com"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)


def _http_message(text: str) -> tuple[str, list[tuple[str, str]], bytes]:
    head, _, body = text.partition("\n\n")
    start, *lines = head.split("\n")
    headers = [(name, value) for name, _, value in (line.partition(": ") for line in lines)]
    return start, headers, body.rstrip("\n").encode()


def test_the_example_request_verifies() -> None:
    request = _blocks("http")[0]
    start, headers, body = _http_message(request)
    method, target, _ = start.split(" ")
    parts = SignedRequestParts(
        method=method, target_uri=DOC_ORIGIN + target, headers=headers, body=body
    )
    proof = parse_http_proof(parts)
    x = re.search(r'"x":"([A-Za-z0-9_-]{43})"', DOC)
    assert x is not None
    key = PublicKey.from_jwk({"kty": "OKP", "crv": "Ed25519", "x": x.group(1)})
    assert key == PrivateKey(bytes(range(32))).public_key  # "the seed is the bytes 00 01 … 1f"
    assert verify_http_proof(proof, key)
    assert dict(headers)["Content-Length"] == str(len(body))
    [base] = [block for block in _blocks("text") if block.startswith('"@method"')]
    assert proof.signature_base.decode() == base.rstrip("\n")


def test_the_example_challenge_parses() -> None:
    [_, challenge] = _blocks("http")
    _, headers, body = _http_message(challenge)
    found = find_writ_challenge([value for name, value in headers if name == "WWW-Authenticate"])
    assert found is not None and found.aud == DOC_ORIGIN and found.nonce
    assert json.loads(body)["code"] == "proof_invalid"


@pytest.fixture
def live_receiver() -> Iterator[Receiver]:
    holder: list[Receiver] = []

    def make_app(origin: str) -> object:
        holder.append(Receiver(origin=origin, holder=PrivateKey(bytes(range(32))).public_key))
        return holder[0].app()

    with serve(make_app):  # type: ignore[arg-type]
        yield holder[0]


def test_the_client_snippets_run(
    live_receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import writ

    if not hasattr(writ, "PrivateKey"):
        pytest.skip(
            "writ/__init__.py does not export PrivateKey yet; the snippet imports it from there"
        )
    PrivateKey(bytes(range(32))).save(tmp_path / "agent-key.json")
    chain = ["eyJhbGciOiJFZDI1NTE5In0.eyJqdGkiOiJyb290In0.c2ln"]
    (tmp_path / "agent-chain.json").write_text(json.dumps(chain))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for block in _blocks("python"):
        code = compile(block.replace(DOC_ORIGIN, live_receiver.origin), "docs/http.md", "exec")
        exec(code, namespace)  # noqa: S102 - running the documented snippet is the point
    printed = capsys.readouterr().out.split("\n")
    assert printed[0].startswith("200 ")
    assert printed[1] == "200"
    assert [code for _, code in live_receiver.decisions].count("allow") == 2
