"""Live regions in Chromium: commit-to-DOM latency of the home page, 1 and N browser pages.

    DATABASE_URL=postgres://.../db .venv/bin/python -m bench.live_dom [--pages 1 10] [--events 20]

Seeds a room and its members as ``bench.live_regions`` does, collects static files, starts one
daphne process and opens each member's home page in its own browser context (Debian's Chromium,
headless). A MutationObserver on each page notes when the room's link shows each new title; the
room is renamed ``--events`` times from outside Django (psycopg, autocommit), one every 150 ms.
Prints the p50/p99 from the commit returning to the DOM changing, over every page and event, and
the renders per event from the server's ``/metrics``. Clocks: both sides read this machine's
wall clock. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import psycopg
from playwright import async_api

from bench import live_regions
from tests import servers, throwaway_postgres

CHROMIUM = os.environ.get("REALTIME_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--headless", "--no-first-run", "--disable-background-networking"]
OBSERVE = """(room) => {
  window.arrivals = {};
  new MutationObserver(() => {
    const link = document.querySelector(`#joined-room-${room} a, #owned-room-${room} a`);
    const match = link && /bench-(\\d+)/.exec(link.textContent);
    const now = performance.timeOrigin + performance.now();
    if (match && !(match[1] in window.arrivals)) window.arrivals[match[1]] = now;
  }).observe(document.getElementById("main"), { subtree: true, childList: true, characterData: true });
}"""


async def measure(
    port: int, url: str, fixtures: dict[str, Any], pages: int, events: int, base: int
) -> list[float]:
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            opened = []
            for _user_id, cookie in fixtures["pages"][1 : pages + 1]:
                context = await browser.new_context(base_url="http://127.0.0.1:%d" % port)
                name, value = cookie.split("=", 1)
                await context.add_cookies(
                    [{"name": name, "value": value, "url": "http://127.0.0.1:%d" % port}]
                )
                page = await context.new_page()
                await page.goto("/")
                await async_api.expect(page.locator("#connection")).to_have_attribute(
                    "data-state", "live", timeout=15_000
                )
                await page.evaluate(OBSERVE, fixtures["room"])
                opened.append(page)
            committed: dict[int, float] = {}
            with psycopg.connect(url, autocommit=True) as conn:
                for n in range(base, base + events):
                    conn.execute(
                        "UPDATE chat_chatroom SET title = %s WHERE id = %s",
                        ("bench-%d" % n, fixtures["room"]),
                    )
                    committed[n] = time.time() * 1000
                    await asyncio.sleep(0.15)
            await asyncio.sleep(2)
            latencies = []
            for page in opened:
                arrivals = await page.evaluate("window.arrivals")
                latencies += [arrivals[str(n)] - committed[n] for n in committed if str(n) in arrivals]
            return sorted(latencies)
        finally:
            await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not 1 <= max(args.pages) <= 30 or not 1 <= args.events <= 100 or not 1 <= args.runs <= 5:
        parser.error("--pages within 1..30, --events within 1..100, --runs within 1..5")
    url = os.environ["DATABASE_URL"]
    throwaway_postgres.manage(url, "migrate", "--noinput", "-v", "0")
    throwaway_postgres.manage(url, "collectstatic", "--noinput", "-v", "0")
    fixtures = live_regions.seed(url, max(args.pages) + 1)
    port = servers.free_port()
    process = subprocess.Popen(
        [sys.executable, *(arg.format(port=port) for arg in servers.DAPHNE)],
        env={**os.environ, "DJANGO_DEBUG": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        servers.wait_until_up(servers.Server(process, port))
        print("load average before: %s" % " ".join("%.2f" % x for x in os.getloadavg()), flush=True)
        base = 0
        for pages in args.pages:
            p50s, p99s, rendered = [], [], []
            for run in range(args.runs):
                before = live_regions.renders(port)
                latencies = asyncio.run(measure(port, url, fixtures, pages, args.events, base))
                per_event = (live_regions.renders(port) - before) / args.events
                base += args.events
                p50 = statistics.median(latencies)
                p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
                p50s.append(p50)
                p99s.append(p99)
                rendered.append(per_event)
                print(
                    "  pages=%d run=%d changes=%d of %d p50=%.1fms p99=%.1fms renders/event=%.2f"
                    % (pages, run + 1, len(latencies), pages * args.events, p50, p99, per_event),
                    flush=True,
                )
            print(
                "pages=%d medians of %d runs: commit-to-DOM p50=%.1fms p99=%.1fms renders/event=%.2f"
                % (
                    pages,
                    args.runs,
                    statistics.median(p50s),
                    statistics.median(p99s),
                    statistics.median(rendered),
                ),
                flush=True,
            )
        print("load average after: %s" % " ".join("%.2f" % x for x in os.getloadavg()), flush=True)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    main()
