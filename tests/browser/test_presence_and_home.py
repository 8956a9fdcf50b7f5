"""Presence dots on the room page and the live home page, in Chromium, at phone and desktop widths."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.async_api import Browser, expect

from chat import models
from tests import servers
from tests.browser.conftest import SERVER_APP_NAME, live, logged_in
from tests.conftest import sync

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = [375, 1280]


@pytest.mark.parametrize("width", WIDTHS)
async def test_presence_dots_follow_who_has_the_room_open(
    people: dict[str, User], room: models.ChatRoom, server: servers.Server, browser: Browser, width: int
) -> None:
    owner = await logged_in(browser, server, "olivia", width=width)
    await owner.goto("/rooms/%d/" % room.id)
    await live(owner)
    me = owner.locator('#members li[data-user-id="%d"]' % people["owner"].id)
    mo = owner.locator('#members li[data-user-id="%d"]' % people["member"].id)
    await expect(me).to_have_attribute("data-online", "true")
    await expect(mo).not_to_have_attribute("data-online", "true")

    member = await logged_in(browser, server, "mo", width=width)
    await member.goto("/rooms/%d/" % room.id)
    await live(member)
    await expect(mo).to_have_attribute("data-online", "true")
    # The member's page rendered the owner online from its own snapshot.
    owner_there = member.locator('#members li[data-user-id="%d"]' % people["owner"].id)
    await expect(owner_there).to_have_attribute("data-online", "true")
    await expect(mo.locator("span.name")).to_be_visible()

    await member.goto("/")  # the last tab on the room closes
    await expect(mo).not_to_have_attribute("data-online", "true")
    await expect(me).to_have_attribute("data-online", "true")
    assert await owner.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", WIDTHS)
async def test_home_page_rooms_appear_change_and_go_live(
    people: dict[str, User], room: models.ChatRoom, server: servers.Server, browser: Browser, width: int
) -> None:
    owner = await logged_in(browser, server, "olivia", width=width)
    member = await logged_in(browser, server, "mo", width=width)
    for page in (owner, member):
        await live(page)
    joined = member.locator("#joined-rooms li[data-room]")
    await expect(joined.get_by_role("link")).to_have_text(["Lobby"])

    await owner.get_by_label("Title").fill("Den")  # created from the owner's other tab: the form
    await owner.get_by_role("button", name="Create").click()
    await owner.wait_for_url("**/rooms/*/")
    await owner.goto("/")
    await live(owner)
    den = await sync(models.ChatRoom.objects.get)(title="Den")
    await sync(models.ChatRoom.objects.filter(pk=room.pk).update)(title="Lounge")
    await expect(joined.get_by_role("link")).to_have_text(["Lounge"])
    await expect(owner.locator('#owned-rooms li[data-room="%d"] a' % room.id)).to_have_text("Lounge")

    await sync(den.member_set.add)(people["member"])
    await expect(joined.get_by_role("link")).to_have_text(["Lounge", "Den"])
    await sync(room.member_set.remove)(people["member"])
    await expect(joined.get_by_role("link")).to_have_text(["Den"])

    created = await sync(models.ChatRoom.objects.create)(owner=people["owner"], title="Attic")
    attic = owner.locator('#owned-rooms li[data-room="%d"]' % created.id)
    await expect(attic.locator("a")).to_have_text("Attic")
    await expect(attic.locator("code")).to_have_text(created.join_code)

    await sync(models.ChatRoom.objects.filter(pk=den.pk).delete)()
    await expect(joined).to_have_count(0)
    await expect(member.locator("#joined-rooms li.empty")).to_be_visible()
    await expect(owner.locator('#owned-rooms li[data-room="%d"]' % den.id)).to_have_count(0)
    for page in (owner, member):
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", WIDTHS)
async def test_presence_clears_when_the_other_server_process_dies(
    people: dict[str, User], room: models.ChatRoom, _static_files: None, browser: Browser, width: int
) -> None:
    """The owner's page on one server sees the member, whose page is on another, leave when that
    server is killed outright (short heartbeat and timeout, so the test takes seconds)."""
    fast = {
        "PGAPPNAME": SERVER_APP_NAME,
        "REALTIME_PRESENCE_HEARTBEAT": "1",
        "REALTIME_PRESENCE_TIMEOUT": "3",
    }
    with servers.daphne(2, extra_env=fast) as (first, second):
        owner = await logged_in(browser, first, "olivia", width=width)
        await owner.goto("/rooms/%d/" % room.id)
        await live(owner)
        member = await logged_in(browser, second, "mo", width=width)
        await member.goto("/rooms/%d/" % room.id)
        await live(member)
        mo = owner.locator('#members li[data-user-id="%d"]' % people["member"].id)
        await expect(mo).to_have_attribute("data-online", "true")

        second.process.kill()
        second.process.wait(10)
        await expect(mo).not_to_have_attribute("data-online", "true", timeout=20_000)
        me = owner.locator('#members li[data-user-id="%d"]' % people["owner"].id)
        await expect(me).to_have_attribute("data-online", "true")
