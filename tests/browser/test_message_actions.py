"""Editing, deleting and loading older messages in a real browser, at phone and desktop widths.

Every change reaches every page, the author's included, through the room's frames only.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.async_api import Browser, Locator, Page, ViewportSize, expect

from chat import history, models
from tests import servers
from tests.browser.conftest import live, logged_in
from tests.conftest import sync

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS: dict[str, ViewportSize] = {
    "phone": {"width": 375, "height": 740},
    "desktop": {"width": 1100, "height": 720},
}
People = dict[str, User]


async def open_room(
    browser: Browser, server: servers.Server, username: str, room: models.ChatRoom, width: str
) -> Page:
    page = await logged_in(browser, server, username)
    await page.set_viewport_size(WIDTHS[width])
    # Deleting asks first; these tests say yes.
    page.on("dialog", lambda dialog: dialog.accept())
    await page.goto("/rooms/%d/" % room.id)
    await live(page)
    return page


def message(page: Page, text: str) -> Locator:
    return page.locator("#messages li", has=page.locator(".text", has_text=text))


async def fits(page: Page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", WIDTHS)
async def test_sender_edits_and_everyone_sees_it(
    people: People, room: models.ChatRoom, server: servers.Server, browser: Browser, width: str
) -> None:
    mine = await sync(models.ChatMessage.objects.create)(
        room=room, sender=people["member"], message="typo hre"
    )
    author = await open_room(browser, server, "mo", room, width)
    owner = await open_room(browser, server, "olivia", room, width)
    item = message(author, "typo hre")
    await expect(item).to_have_attribute("data-message-id", str(mine.id))
    # The owner may delete someone else's message, never edit it.
    await expect(message(owner, "typo hre").get_by_role("button", name="Edit")).to_have_count(0)
    await expect(message(owner, "typo hre").get_by_role("button", name="Delete")).to_be_visible()

    await item.get_by_role("button", name="Edit").click()
    editor = author.get_by_role("textbox", name="Edit message")
    await expect(editor).to_have_value("typo hre")
    await fits(author)
    # The server's refusal shows on the page (the browser's own check is lifted to reach it).
    await editor.evaluate("input => { input.required = false; input.value = '  '; }")
    await author.get_by_role("button", name="Save").click()
    await expect(author.locator("#messages li .error")).to_have_text("A message cannot be empty.")
    await editor.fill("typo here")
    await author.get_by_role("button", name="Save").click()

    for page in (author, owner):
        await expect(page.locator("#messages li .text")).to_have_text(["typo here"])
    await expect(author.get_by_role("textbox", name="Edit message")).to_have_count(0)
    await expect(author.locator("#messages li .error")).to_have_count(0)
    await fits(author)


@pytest.mark.parametrize("width", WIDTHS)
async def test_delete_own_and_owner_deletes_any_live(
    people: People, room: models.ChatRoom, server: servers.Server, browser: Browser, width: str
) -> None:
    create = sync(models.ChatMessage.objects.create)
    await create(room=room, sender=people["member"], message="from mo")
    await create(room=room, sender=people["owner"], message="from olivia")
    await create(room=room, sender=people["member"], message="mo again")
    member = await open_room(browser, server, "mo", room, width)
    owner = await open_room(browser, server, "olivia", room, width)
    texts = [page.locator("#messages li .text") for page in (member, owner)]
    # A member deletes only their own messages.
    await expect(message(member, "from olivia").get_by_role("button")).to_have_count(0)

    await message(member, "from mo").get_by_role("button", name="Delete").click()
    for found in texts:
        await expect(found).to_have_text(["from olivia", "mo again"])

    await message(owner, "mo again").get_by_role("button", name="Delete").click()
    for found in texts:
        await expect(found).to_have_text(["from olivia"])
    await fits(member)


@pytest.mark.parametrize("width", WIDTHS)
async def test_load_older_pages_in_without_gap_or_repeat(
    people: People, room: models.ChatRoom, server: servers.Server, browser: Browser, width: str
) -> None:
    total = history.PAGE_SIZE + 5
    # One statement, one transaction: every message has the same posted time; the id breaks ties.
    await sync(models.ChatMessage.objects.bulk_create)(
        [
            models.ChatMessage(room=room, sender=people["owner"], message="message %02d" % n)
            for n in range(1, total + 1)
        ]
    )
    member = await open_room(browser, server, "mo", room, width)
    owner = await open_room(browser, server, "olivia", room, width)
    texts = member.locator("#messages li .text")
    await expect(texts).to_have_count(history.PAGE_SIZE)
    await expect(texts.first).to_have_text("message 06")

    # Changes to not yet loaded messages arrive first and win over the older page.
    await sync(models.ChatMessage.objects.filter(message="message 02").update)(message="message 02 edited")
    await sync(models.ChatMessage.objects.filter(message="message 03").delete)()
    await member.get_by_role("textbox", name="Message").fill("live one")
    await member.get_by_role("button", name="Send").click()
    await expect(owner.locator("#messages li .text").last).to_have_text("live one")
    await expect(texts.last).to_have_text("live one")

    await member.get_by_role("button", name="Load older messages").click()
    expected = ["message 01", "message 02 edited"] + ["message %02d" % n for n in range(4, total + 1)]
    await expect(texts).to_have_text([*expected, "live one"])
    await expect(member.get_by_role("button", name="Load older messages")).to_be_hidden()
    await fits(member)
