"""Fixtures for the browser tests: Debian's chromium driven by Playwright, real daphne servers."""

from __future__ import annotations

import collections.abc
import os
import shutil
import sys
from typing import Any

import pytest
from django.core import management
from playwright import async_api

from tests import servers

CHROMIUM = os.environ.get("REALTIME_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--headless",
]
# Every wait in these tests is bounded by this (milliseconds).
WAIT_MS = 8000
# The daphne processes' connections carry this name, so a test can terminate exactly them.
SERVER_APP_NAME = "browser-test-daphne"
PASSWORD = "pw"

async_api.expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="session")
def _static_files() -> None:
    """daphne runs with DEBUG off, where whitenoise serves only collected files (STATIC_ROOT)."""
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        # A newcomer without Chromium still gets the rest of the suite; CI requires it.
        message = "%s is missing: apt-get install -y chromium" % CHROMIUM
        if os.environ.get("REALTIME_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    management.call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(scope="package")
def _daphne(django_db_setup: None, _static_files: None) -> collections.abc.Iterator[servers.Server]:
    """One server for the browser tests that take the default one (tests/servers.py's ``reused``
    says why that is safe); ``restart`` replaces its process in place."""
    with servers.daphne(1, extra_env={"PGAPPNAME": SERVER_APP_NAME}) as (one,):
        yield one


@pytest.fixture
def server(_daphne: servers.Server, transactional_db: None) -> servers.Server:
    return servers.reused(_daphne)


@pytest.fixture
async def browser() -> collections.abc.AsyncIterator[async_api.Browser]:
    async with async_api.async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def logged_in(
    browser: async_api.Browser,
    server: servers.Server,
    username: str,
    password: str = PASSWORD,
    width: int | None = None,
) -> async_api.Page:
    """A page in a fresh browser context (its own cookies), logged in through the login form."""
    viewport: Any = {"width": width, "height": 800} if width else None
    context = await browser.new_context(base_url=server.http, viewport=viewport)
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    page.on("console", lambda message: _console(username, message))
    page.on("pageerror", lambda error: print("[%s] page error: %s" % (username, error), file=sys.stderr))
    await page.goto("/accounts/login/")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(server.http + "/")
    return page


def _console(username: str, message: async_api.ConsoleMessage) -> None:
    if message.type in {"error", "warning"}:
        print("[%s] console %s: %s" % (username, message.type, message.text), file=sys.stderr)


async def live(page: async_api.Page) -> None:
    """Wait until the page's socket is open."""
    await async_api.expect(page.locator("#connection")).to_have_attribute("data-state", "live")


def restart(server: servers.Server) -> None:
    """Kill the server process outright and start a new one on the same port."""
    server.process.kill()
    server.process.wait(10)
    server.process = servers.spawn(server.port, {"PGAPPNAME": SERVER_APP_NAME})
    servers.wait_until_up(server)
