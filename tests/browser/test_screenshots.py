"""Screenshots of the pages with the demo data, at desktop and phone widths.

The default run writes them to a temporary folder (and checks nothing overflows at phone width);
``REALTIME_SCREENSHOTS=1 pytest tests/browser/test_screenshots.py`` refreshes ``docs/screenshots/``.
"""

from __future__ import annotations

import io
import os
import pathlib

import pytest
from django.core import management
from playwright.async_api import expect

from chat import models
from tests.browser.conftest import live, logged_in
from tests.conftest import sync

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1100, "height": 720}
PHONE = {"width": 390, "height": 760}


async def test_screenshots(server, browser, tmp_path):
    folder = DOCS if os.environ.get("REALTIME_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    await sync(management.call_command)("seed_demo", stdout=io.StringIO())
    lobby = await sync(models.ChatRoom.objects.get)(join_code="lobby-demo")
    await sync(models.ChatRoom.objects.create)(owner_id=lobby.owner_id, title="Weekend plans")

    dave = await logged_in(browser, server, "dave", password="demo-password")
    await live(dave)
    alice = await logged_in(browser, server, "alice", password="demo-password")
    await alice.set_viewport_size(DESKTOP)
    await live(alice)
    await alice.screenshot(path=folder / "home.png", full_page=True)

    bob = await logged_in(browser, server, "bob", password="demo-password")
    await bob.goto("/rooms/%d/" % lobby.id)  # online: a green dot on Alice's page
    await alice.goto("/rooms/%d/" % lobby.id)
    await live(alice)
    await expect(alice.locator('#members li[data-online="true"]')).to_have_count(2)
    await expect(alice.locator("#waiting li")).to_have_count(1)
    await alice.get_by_role("textbox", name="Message").fill("Screenshots are taken by a test, live.")
    await alice.get_by_role("button", name="Send").click()
    await expect(alice.locator("#messages li")).to_have_count(4)
    await alice.screenshot(path=folder / "room.png", full_page=True)

    await dave.set_viewport_size(PHONE)
    await expect(dave.locator("#join-requests li .status")).to_have_text("pending")
    await dave.screenshot(path=folder / "home-phone.png", full_page=True)
    await alice.set_viewport_size(PHONE)
    await alice.screenshot(path=folder / "room-phone.png", full_page=True)
    for page in (alice, dave):
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
