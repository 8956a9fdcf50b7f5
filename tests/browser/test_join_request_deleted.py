"""A join request deleted by any path leaves the requester's home and the owner's waiting list."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from chat import models
from tests.browser.conftest import live, logged_in
from tests.conftest import sync

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [375, 1280])
async def test_deleted_join_request_leaves_both_pages(
    people: Any, room: models.ChatRoom, server: Any, browser: Any, width: int
) -> None:
    owner = await logged_in(browser, server, "olivia", width=width)
    await owner.goto("/rooms/%d/" % room.id)
    await live(owner)
    requester = await logged_in(browser, server, "otto", width=width)
    await requester.get_by_label("Join code").fill(room.join_code)
    await requester.get_by_role("button", name="Ask to join").click()
    await expect(requester.locator(".flash")).to_contain_text("Asked to join Lobby")
    await live(requester)
    await expect(owner.locator("#waiting li")).to_have_count(1)
    await expect(requester.locator("#join-requests li[data-request]")).to_have_count(1)

    await sync(models.ChatRoomJoinRequest.objects.filter(room=room).delete)()

    await expect(owner.locator("#waiting li")).to_have_count(0)
    await expect(owner.locator("#no-waiting")).to_be_visible()
    await expect(requester.locator("#join-requests li[data-request]")).to_have_count(0)
    await expect(requester.locator("#join-requests li.empty")).to_have_text("No requests.")
