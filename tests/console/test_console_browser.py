"""``writ console`` in a real headless Chromium: stream, filters, graph, and the in-page proof check.

The console runs as a real subprocess on a free loopback port over a log the
test fills with real decisions. Debian's Chromium is driven by Playwright (the
wheel's own driver; no browser download). Without Chromium or Playwright the
tests skip, unless WRIT_REQUIRE_SERVICES=1, when they fail.

Screenshots go to $WRIT_CONSOLE_SCREENSHOTS when set (docs/img is made that way),
else to a temporary directory.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _console_scene import (
    Scene,
    build_scene,
    console_argv,
    free_port,
    running_console,
    witness_scene,
)

from writ import PrivateKey
from writ.log._checkpoint import log_verifier
from writ.log._merkle import inclusion_proof, leaf_hash, root_from_leaf_hashes

CHROMIUM = os.environ.get("WRIT_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 15_000

pytestmark = pytest.mark.slow


def _unavailable(reason: str) -> None:
    if os.environ.get("WRIT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}, and WRIT_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    s = build_scene(tmp_path_factory.mktemp("console"))
    witness_scene(s)
    yield s
    s.close()


@pytest.fixture(scope="module")
def console(scene: Scene) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with running_console(console_argv(scene, port), url):
        yield url


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("WRIT_CONSOLE_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("shots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser_context() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    profile = tempfile.mkdtemp(prefix="writ-console-chromium-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                args=ARGS,
                headless=True,
                viewport={"width": 1280, "height": 760},
            )
            yield context
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def page(browser_context: Any, console: str) -> Iterator[Any]:
    page = browser_context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(console)
    page.wait_for_selector("tr.decision")
    yield page
    assert errors == [], errors
    page.close()


def _indexes(page: Any) -> list[int]:
    return [
        int(i)
        for i in page.eval_on_selector_all(
            "#decisions tbody tr.decision", "rows => rows.map(r => r.dataset.index)"
        )
    ]


def _select(page: Any, name: str, value: str) -> None:
    page.select_option(f"#f-{name}", value)


def test_page_loads_with_decisions_and_status(page: Any) -> None:
    page.wait_for_function("document.querySelectorAll('#decisions tbody tr').length === 8")
    assert _indexes(page) == list(range(7, -1, -1))
    page.wait_for_function("document.getElementById('st-size').textContent === '8'")
    assert "size 8" in page.inner_text("#st-checkpoint")
    assert "cosigned size 8, 1 refused-fork evidence" in page.inner_text("#st-witness")
    assert page.inner_text("#st-archive") == "3 chains, 3 tokens"
    assert page.evaluate("window.isSecureContext")  # WebCrypto needs it; loopback is one


def test_filters_narrow_the_list(page: Any) -> None:
    _select(page, "decision", "deny")
    assert _indexes(page) == [7, 5, 4, 3]
    assert page.eval_on_selector_all(
        "#decisions tbody tr", "rows => rows.every(r => r.classList.contains('deny'))"
    )
    _select(page, "code", "tool_not_granted")
    assert _indexes(page) == [4]
    page.click("#f-clear")
    _select(page, "tool", "refund")
    assert _indexes(page) == [5, 3, 2, 1]
    agent = page.get_attribute("#decisions tbody tr[data-index='3'] td:nth-child(6)", "title")
    _select(page, "agent", agent)
    assert _indexes(page) == [3, 2]  # the sub-agent's two refunds
    page.click("#f-clear")
    assert len(_indexes(page)) == 8


def test_detail_verifies_the_inclusion_proof_in_the_page(page: Any, shots: Path) -> None:
    page.click("#decisions tbody tr[data-index='3']")
    page.wait_for_selector("#proof.good")
    assert page.inner_text("#proof-mark") == "✓"
    checks = page.inner_text("#proof-checks")
    for name in ("leaf hash", "tree size", "inclusion", "checkpoint signature", "chain tokens"):
        assert name in checks
    assert "valid" in checks and "✗" not in checks
    record = json.loads(page.inner_text("#d-record"))
    assert record["code"] == "argument_violation" and record["tool"] == "refund"
    assert page.locator("#d-chain .token").count() == 2
    assert 'range {"max":50}' in page.inner_text("#d-chain")
    # The holder shown is the thumbprint the page computed from the token's own cnf.jwk.
    leaf_holder = page.get_attribute("#d-chain .token:nth-child(2) .token-head .mono", "title")
    assert leaf_holder == record["chain"]["agent"]
    page.mouse.move(1, 1)
    page.screenshot(path=str(shots / "console-decisions.png"))


def test_a_tampered_proof_is_caught_in_the_page(page: Any, scene: Scene, shots: Path) -> None:
    # A lying server: the record of entry 3 (a denial) is served as an allow.
    def tamper(route: Any) -> None:
        body = route.fetch().json()
        leaf = base64.b64decode(body["leaf_b64"]).replace(b'"deny"', b'"allow"')
        body["leaf_b64"] = base64.b64encode(leaf).decode()
        body["leaf_hash_b64"] = base64.b64encode(leaf_hash(leaf)).decode()
        route.fulfill(json=body)

    page.route("**/api/proof/3", tamper)
    try:
        page.click("#d-close")
        page.click("#decisions tbody tr[data-index='3']")
        page.wait_for_selector("#proof.bad")
        assert page.inner_text("#proof-mark") == "✗"
        assert "✗inclusion" in page.inner_text("#proof-checks").replace(" ", "")
        assert json.loads(page.inner_text("#d-record"))["decision"] == "allow"  # shown, unproven
        page.mouse.move(1, 1)
        page.screenshot(path=str(shots / "console-tampered.png"))
    finally:
        page.unroute("**/api/proof/3")


def test_a_lying_archive_is_caught_in_the_page(page: Any, scene: Scene) -> None:
    # The archive serves another chain's tokens for entry 3: the hashes give it away.
    def swap(route: Any) -> None:
        body = route.fetch().json()
        body["tokens"] = [{"compact": c} for c in reversed(scene.chains["sub"])]
        route.fulfill(json=body)

    page.route("**/api/decision/3", swap)
    try:
        page.click("#d-close")
        page.click("#decisions tbody tr[data-index='3']")
        page.wait_for_selector("#proof.bad")
        checks = page.inner_text("#proof-checks").replace(" ", "")
        assert "✓inclusion" in checks and "✗chaintokens" in checks
        assert page.locator("#d-chain .token.missing").count() == 2
    finally:
        page.unroute("**/api/decision/3")
        page.click("#d-close")


def test_a_log_key_pinned_in_the_url_overrides_the_served_one(page: Any, console: str,
                                                             scene: Scene) -> None:
    good = log_verifier(scene.log.origin, scene.log.key.public_key).vkey
    other = log_verifier(scene.log.origin, PrivateKey.generate().public_key).vkey
    try:
        for vkey, outcome in ((good, "#proof.good"), (other, "#proof.bad")):
            page.goto(f"{console}#vkey={vkey}")
            page.wait_for_selector("tr.decision[data-index='2']").click()
            page.wait_for_selector(outcome)
            assert "key pinned in the URL" in page.inner_text("#proof-checks")
        assert "no signature by" in page.inner_text("#proof-checks")
    finally:
        page.goto(console)
        page.wait_for_selector("tr.decision")


def _verify(page: Any, proof: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate("p => window.writConsole.verifyProof(p)", proof)
    return result


def test_each_check_fails_on_its_own_mutation(page: Any, console: str, scene: Scene) -> None:
    proof = page.evaluate("fetch('/api/proof/2').then(r => r.json())")
    assert _verify(page, proof)["ok"] is True

    def failed(mutated: dict[str, Any]) -> set[str]:
        result = _verify(page, mutated)
        assert result["ok"] is False
        return {c["name"] for c in result["checks"] if c["ok"] is False}

    other = PrivateKey.generate().public_key.raw
    sig = proof["checkpoint"].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig[1]))
    raw[-1] ^= 1
    wrong_index = {**proof, "index": 1}
    assert failed(
        {**proof, "log_key": {"name": None, "public_key_b64": base64.b64encode(other).decode()}}
    ) == {"checkpoint signature"}
    assert failed(
        {**proof, "checkpoint": sig[0] + " " + base64.b64encode(raw).decode() + "\n"}
    ) == {"checkpoint signature"}
    assert failed({**proof, "log_key": {**proof["log_key"], "name": "another/origin"}}) == {
        "checkpoint signature"
    }
    assert failed(wrong_index) == {"inclusion"}
    assert failed({**proof, "audit_path": proof["audit_path"][:-1]}) == {"inclusion"}
    assert failed({**proof, "audit_path": proof["audit_path"][::-1]}) == {"inclusion"}
    unsigned = _verify(page, {**proof, "log_key": None})
    assert unsigned["ok"] is None  # inclusion holds, but nothing vouches for the checkpoint


def test_js_merkle_agrees_with_python(page: Any) -> None:
    hashes = [leaf_hash(f"leaf-{i}".encode()) for i in range(33)]

    def node(level: int, index: int) -> bytes:
        return root_from_leaf_hashes(hashes[index << level : (index + 1) << level])

    cases = []
    for size in range(1, 34):
        root = root_from_leaf_hashes(hashes[:size])
        for index in range(size):
            path = inclusion_proof(index, size, node)
            cases.append(
                {
                    "index": index,
                    "size": size,
                    "leaf": hashes[index].hex(),
                    "path": [h.hex() for h in path],
                    "root": root.hex(),
                }
            )
    results = page.evaluate(
        """async cases => {
      const b = (h) => new Uint8Array(h.match(/../g).map((x) => parseInt(x, 16)));
      const hex = (a) => Array.from(a, (x) => x.toString(16).padStart(2, "0")).join("");
      const out = [];
      for (const c of cases) {
        const path = c.path.map(b);
        const good = await window.writConsole.rootFromInclusion(c.index, c.size, b(c.leaf), path);
        const flipped = b(c.leaf); flipped[0] ^= 1;
        const bad = await window.writConsole.rootFromInclusion(c.index, c.size, flipped, path);
        const longer = await window.writConsole.rootFromInclusion(
          c.index, c.size, b(c.leaf), path.concat([b(c.leaf)]));
        out.push([good && hex(good) === c.root, !bad || hex(bad) !== c.root, longer === null]);
      }
      return out;
    }""",
        cases,
    )
    assert len(results) == sum(range(1, 34))
    assert all(all(r) for r in results)


def test_delegation_graph(page: Any, shots: Path) -> None:
    page.click("#tab-graph")
    page.wait_for_selector("#graph .principal")
    assert page.locator("#graph .principal").count() == 1
    assert page.locator("#graph .token").count() == 3
    nested = page.locator("#graph .token .children .token")
    assert nested.count() == 1
    text = nested.inner_text()
    assert "SUB-AGENT" in text.upper() and 'range {"max":50}' in text and "1 of max 3" in text
    graph = page.inner_text("#graph")
    assert "Refunds for order disputes" in graph and "approval" in graph
    page.mouse.move(1, 1)
    page.screenshot(path=str(shots / "console-graph.png"))
    page.click("#tab-decisions")


def test_new_decisions_stream_in_live_and_render_as_text(page: Any, scene: Scene) -> None:
    # The tool name is the agent's choice: it must show as text, never run as markup.
    hostile = '<img src=x onerror="window.pwned=1">'
    decision = scene.call("search", hostile, {})
    assert not decision.allowed
    page.wait_for_selector("#decisions tbody tr[data-index='8']")
    cell = page.inner_text("#decisions tbody tr[data-index='8'] td:nth-child(4)")
    assert cell == hostile
    assert page.evaluate("window.pwned") is None
    assert page.locator("#decisions img").count() == 0
    scene.call("search", "search", {"q": "live"})
    page.wait_for_selector("#decisions tbody tr[data-index='9']")
    assert _indexes(page)[:2] == [9, 8]


def test_a_gap_between_polls_is_shown_not_hidden(page: Any) -> None:
    # Last in this module: it leaves the page believing the log has 300 entries.
    def burst(route: Any) -> None:
        row = {"index": 299, "id": "x", "time_ms": 0, "tool": "search", "decision": "allow",
               "code": None, "step": None, "detail": None, "agent": None, "principal": None}
        route.fulfill(json={"size": 300, "decisions": [row]})

    last = max(_indexes(page))
    page.route("**/api/decisions?after=*", burst)
    page.wait_for_selector("#decisions tbody tr.gap")
    page.unroute("**/api/decisions?after=*")
    assert f"{299 - last - 1} more decisions" in page.inner_text("#decisions tbody tr.gap")
    assert _indexes(page)[:2] == [299, last]
