"""The console over the demo's own decision log, in a real headless Chromium (issue 6)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _console_scene import free_port, running_console
from typer.testing import CliRunner

from writ.cli import app

CHROMIUM = os.environ.get("WRIT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.slow


def _unavailable(reason: str) -> None:
    if os.environ.get("WRIT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}, and WRIT_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("demo") / "run"
    result = CliRunner().invoke(app, ["demo", "--json", "--burst", "120", "--workdir",
                                      str(workdir)])
    out: dict[str, Any] = json.loads(result.stdout)
    assert result.exit_code == 0 and out["ok"], out
    return out


@pytest.fixture(scope="module")
def page(demo: dict[str, Any]) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    port = free_port()
    argv = [sys.executable, "-m", "writ.cli", *shlex.split(demo["console"])[1:], "--port",
            str(port)]
    url = f"http://127.0.0.1:{port}/"
    profile = tempfile.mkdtemp(prefix="writ-demo-chromium-")
    try:
        with running_console(argv, url), sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=ARGS, headless=True,
                viewport={"width": 1280, "height": 760})
            page = context.new_page()
            page.set_default_timeout(15_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url)
            page.wait_for_selector("tr.decision")
            yield page
            assert errors == [], errors
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_the_demos_decisions_appear_filter_and_verify(page: Any, demo: dict[str, Any]) -> None:
    mcp = demo["audit"][0]
    page.wait_for_function(
        f"document.getElementById('st-size').textContent === '{mcp['entries']}'")
    page.select_option("#f-code", "untrusted_root")
    rows = page.query_selector_all("#decisions tbody tr.decision")
    assert len(rows) == 2  # the rogue at the MCP server and at the gateway, in one log
    rows[-1].click()
    page.wait_for_selector("#proof.good")
    assert page.inner_text("#proof-mark") == "✓"
    record = json.loads(page.inner_text("#d-record"))
    assert record["code"] == "untrusted_root" and record["tool"] == "port_scan"
    assert record["claimed_unverified"]["iss"] == "https://redteam-partners.example"
    page.click("#f-clear")
    page.select_option("#f-code", "revoked")
    assert len(page.query_selector_all("#decisions tbody tr.decision")) >= 1
    target = os.environ.get("WRIT_CONSOLE_SCREENSHOTS")
    if target:
        page.click("#f-clear")
        page.screenshot(path=str(Path(target) / "demo-console.png"))
