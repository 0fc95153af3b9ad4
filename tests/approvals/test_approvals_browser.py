"""The approvals page in Debian's Chromium, driven by Playwright, against a real server process.

An agent-side ``web_callback`` posts the request and waits in a thread; a human (the
browser) clicks Approve or Deny; the waiting agent receives the approval (which the
verifier accepts) or nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _approvals_kit import ARGS, Gated
from _approvals_proc import approvals_server

from writ.approvals import web_callback

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

CHROMIUM = "/usr/bin/chromium"
ARGS_CHROMIUM = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# Set WRIT_CONSOLE_SCREENSHOTS=docs/img to refresh the screenshot in the docs; otherwise a
# test run leaves the working tree alone.
SCREENSHOT = Path(os.environ.get("WRIT_CONSOLE_SCREENSHOTS") or tempfile.gettempdir()) / "approvals.png"
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS_CHROMIUM)
        yield browser
        browser.close()


@pytest.fixture
def world(tmp_path: Path) -> Gated:
    gated = Gated()
    gated.keys[0].save(tmp_path / "approver.key")
    return gated


@pytest.fixture
def server(tmp_path: Path, world: Gated) -> Iterator[str]:
    with approvals_server(tmp_path / "approver.key", "--inbox", str(tmp_path / "inbox.db")) as url:
        yield url


class Poller(threading.Thread):
    """The agent: posts the request through ``web_callback`` and waits for the human."""

    def __init__(self, url: str, request: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.callback = web_callback(url, timeout=60)
        self.request = request
        self.result: list[str] | None = None

    def run(self) -> None:
        answer = self.callback(self.request)
        assert isinstance(answer, list)  # no event loop in this thread: a plain list
        self.result = answer

    def answer(self) -> list[str]:
        self.join(timeout=WAIT_MS / 1000)
        assert not self.is_alive(), "the agent is still waiting"
        assert self.result is not None
        return self.result


def card(page: Any, summary_part: str, status: str = "pending") -> Any:
    selector = f'[data-testid="request"][data-status="{status}"]'
    locator = page.locator(selector).filter(has_text=summary_part)
    locator.wait_for(timeout=WAIT_MS)
    return locator


def test_approve_in_the_page_gives_the_waiting_agent_a_valid_approval(
        browser: Any, server: str, world: Gated) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 760})
    page.goto(server + "/")
    agent = Poller(server, world.request())
    agent.start()
    pending = card(page, "acct-7")
    text = pending.inner_text()
    for shown in ("transfer", '"amount": "250.00"', "https://api.target.example",
                  "https://security.target.example", world.agent.public_key.thumbprint_uri,
                  "Treasury run ENG-2026-114", "1 of 1 approvers", "Expires"):
        assert shown in text
    assert world.keys[0].public_key.thumbprint_uri in page.locator("#approver").inner_text()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    pending.get_by_role("button", name="Approve").click()
    [approval] = agent.answer()
    card(page, "acct-7", "approved")
    assert world.ask(approvals=[approval]).allowed
    page.close()


def test_deny_in_the_page_gives_the_agent_nothing(browser: Any, server: str,
                                                  world: Gated) -> None:
    page = browser.new_page()
    page.goto(server + "/")
    agent = Poller(server, world.request({**ARGS, "amount": "990.00"}))
    agent.start()
    card(page, "990.00").get_by_role("button", name="Deny").click()
    assert agent.answer() == []
    denied = card(page, "990.00", "denied")
    assert denied.get_by_role("button", name="Approve").is_disabled()
    page.close()


def test_an_expired_request_cannot_be_approved(browser: Any, tmp_path: Path) -> None:
    old = Gated(max_age=30, now=Gated().now - 120)
    old.keys[0].save(tmp_path / "old.key")
    with approvals_server(tmp_path / "old.key") as url:
        created = httpx.post(url + "/api/requests", json=old.request())
        assert created.status_code == 201 and created.json()["status"] == "expired"
        page = browser.new_page()
        page.goto(url + "/")
        expired = card(page, "acct-7", "expired")
        assert expired.get_by_role("button", name="Approve").is_disabled()
        assert "the agent must ask again" in expired.inner_text()
        # Forcing the click through the API with the page's own token is refused too.
        token = page.locator('meta[name="writ-token"]').get_attribute("content")
        forced = httpx.post(f"{url}/api/requests/{created.json()['id']}/approve",
                            headers={"X-Writ-Token": token})
        assert forced.status_code == 410
        assert web_callback(url, timeout=5).wait(old.request()) == []
        page.close()


def test_the_page_renders_agent_text_as_text(browser: Any, server: str, world: Gated) -> None:
    # Arguments come from the agent: markup in them must not become markup in the page.
    hostile = {"to": "acct-<img src=x onerror=window.pwned=1>", "amount": "1.00"}
    httpx.post(server + "/api/requests", json=world.request(hostile)).raise_for_status()
    page = browser.new_page()
    page.goto(server + "/")
    shown = card(page, "acct-<img")
    assert "<img src=x" in shown.inner_text()
    assert page.locator("li img").count() == 0
    assert page.evaluate("window.pwned === undefined")
    page.close()


def test_the_inbox_survives_a_restart(tmp_path: Path, world: Gated) -> None:
    key, inbox = tmp_path / "approver.key", str(tmp_path / "inbox")
    with approvals_server(key, "--inbox", inbox) as url:
        entry = httpx.post(url + "/api/requests", json=world.request()).json()["id"]
    with approvals_server(key, "--inbox", inbox) as url:
        listed = httpx.get(url + "/api/requests").json()["requests"]
        assert [(r["id"], r["status"]) for r in listed] == [(entry, "pending")]
        assert json.loads((tmp_path / "inbox" / f"{entry}.json").read_text())["status"] == \
            "pending"
