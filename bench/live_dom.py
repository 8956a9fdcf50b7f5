"""Live regions in Chromium: commit-to-DOM latency of the home page, 1 and 1,000 pages, both modes.

    DATABASE_URL=postgres://.../db .venv/bin/python -m bench.live_dom [--pages 1 1000] [--browsers 5]
        [--modes streams refresh] [--events 20] [--refresh-events 3] [--runs 3]

Seeds a room and its members as ``bench.live_regions`` does, collects static files and starts one
daphne process (``bench.live_settings``). Per page count, ``--browsers`` of the pages are real home
pages in Debian's headless Chromium (each in its own browser context); 1,000 Chromium tabs do not
fit on this machine, so the rest are socket clients in this process that speak the region's
protocol (``bench/live_clients.py``: in refresh mode they GET the page as live.js does). A
MutationObserver on each Chromium page notes when the room's link shows each new title. The room is
renamed from outside Django (psycopg, autocommit): ``--events`` times for ``streams`` (the chat's
``home`` region), ``--refresh-events`` times for ``refresh`` (the bench's ``home_refresh`` region,
named on the page by an init script before live.js reads it), each once every page showed the
previous one, plus 100 ms. Prints the p50/p99 from the commit returning to the DOM changing
(Chromium pages) and to the page showing it (socket clients), the renders per event from the
server's ``/metrics`` and the page GETs per event. Clocks: both sides read this machine's clocks.
Every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

from playwright import async_api

from bench import live_clients, live_regions
from bench import servers as bench_servers
from tests import servers, throwaway_postgres

CHROMIUM = os.environ.get("REALTIME_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--headless", "--no-first-run", "--disable-background-networking"]
ARGS += ["--disable-component-update", "--disable-sync"]
SWAP_REGION = """new MutationObserver((_, observer) => {
  const region = document.querySelector('[data-live="home"]');
  if (region) { region.dataset.live = "home_refresh"; observer.disconnect(); }
}).observe(document, { subtree: true, childList: true });"""
INTERVAL = 0.1
OBSERVE = """(room) => {
  window.arrivals = {};
  new MutationObserver(() => {
    const link = document.querySelector(`#joined-room-${room} a, #owned-room-${room} a`);
    const match = link && /bench-(\\d+)/.exec(link.textContent);
    const now = performance.timeOrigin + performance.now();
    if (match && !(match[1] in window.arrivals)) window.arrivals[match[1]] = now;
  }).observe(document.getElementById("main"), { subtree: true, childList: true, characterData: true });
}"""


async def open_browser_page(
    browser: async_api.Browser, port: int, cookie: str, mode: str, room: int, fetches: list[str]
) -> async_api.Page:
    """One home page in its own context, following the region of ``mode``, observed."""
    base = "http://127.0.0.1:%d" % port
    context = await browser.new_context(base_url=base)
    name, value = cookie.split("=", 1)
    await context.add_cookies([{"name": name, "value": value, "url": base}])

    if mode == "refresh":
        # The chat's page names its own region; refresh mode follows the bench's instead, renamed
        # before live.js (a module script, run once the page is parsed) reads it.
        await context.add_init_script(SWAP_REGION)
    page = await context.new_page()
    page.on(
        "request", lambda request: fetches.append(request.url) if request.resource_type == "fetch" else None
    )
    await page.goto("/")
    await async_api.expect(page.locator("#connection")).to_have_attribute(
        "data-state", "live", timeout=30_000
    )
    await page.evaluate(OBSERVE, room)
    return page


async def measure(
    port: int,
    url: str,
    fixtures: dict[str, Any],
    pages: int,
    browsers: int,
    events: int,
    mode: str,
    base: int,
) -> dict[str, Any]:
    """One run: ``browsers`` Chromium pages and the rest of ``pages`` as socket clients."""
    members = fixtures["pages"][1 : pages + 1]
    shown_in = min(browsers, pages)
    fetches: list[str] = []
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        crowd: list[live_clients.Page] = []
        readers: list[asyncio.Task[None]] = []
        try:
            opened = [
                await open_browser_page(browser, port, cookie, mode, fixtures["room"], fetches)
                for _user_id, cookie in members[:shown_in]
            ]
            crowd = await live_clients.open_pages(port, members[shown_in:], mode)
            readers = [asyncio.create_task(page.follow()) for page in crowd]
            await asyncio.sleep(0.5)

            async def settled(n: int) -> None:
                # Each rename waits until every page shows it: one event's cost, not a backlog's.
                await live_clients.wait_shown(crowd, n, live_clients.RECEIVE_TIMEOUT)
                for page in opened:
                    await page.wait_for_function(
                        "(n) => n in window.arrivals", arg=str(n), timeout=live_clients.RECEIVE_TIMEOUT * 1000
                    )

            numbers = range(base, base + events)
            # Pages stamp wall-clock time, the commits perf_counter: the offset between the two.
            clock_offset = time.time() * 1000 - time.perf_counter() * 1000
            committed = await live_regions.rename(url, fixtures["room"], numbers, INTERVAL, settled)
            await live_clients.wait_shown(crowd, numbers[-1], live_clients.RECEIVE_TIMEOUT)
            await asyncio.sleep(2)
            dom = []
            for page in opened:
                arrivals = await page.evaluate("window.arrivals")
                dom += [
                    arrivals[str(n)] - clock_offset - committed[n] * 1000
                    for n in committed
                    if str(n) in arrivals
                ]
            return {
                "dom": sorted(dom),
                "crowd": live_clients.latencies(crowd, committed),
                "expected_dom": shown_in * events,
                "expected_crowd": len(crowd) * events,
                "fetches": (len(fetches) + sum(page.fetches for page in crowd)) / events,
            }
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            for crowd_page in crowd:
                await crowd_page.close()
            await browser.close()


def p50_p99(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return statistics.median(values), values[min(len(values) - 1, int(len(values) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[1, 1000])
    parser.add_argument("--browsers", type=int, default=5)
    parser.add_argument("--modes", nargs="+", choices=["streams", "refresh"], default=["streams", "refresh"])
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--refresh-events", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not 1 <= max(args.pages) <= 1000 or not 1 <= args.browsers <= 30 or not 1 <= args.runs <= 5:
        parser.error("--pages within 1..1000, --browsers within 1..30, --runs within 1..5")
    if not 1 <= args.events <= 100 or not 1 <= args.refresh_events <= 50:
        parser.error("--events within 1..100, --refresh-events within 1..50")
    url = os.environ["DATABASE_URL"]
    throwaway_postgres.manage(url, "migrate", "--noinput", "-v", "0")
    throwaway_postgres.manage(url, "collectstatic", "--noinput", "-v", "0")
    fixtures = live_regions.seed(url, max(args.pages) + 1)
    with bench_servers.project(servers.DAPHNE, live_regions.server_env()) as server:
        print("load average before: %s" % " ".join("%.2f" % x for x in os.getloadavg()), flush=True)
        base = 0
        for pages in args.pages:
            shown_in = min(args.browsers, pages)
            print(
                "pages=%d: %d Chromium pages (commit-to-DOM) + %d socket clients speaking the region's"
                " protocol in this process (commit-to-shown)" % (pages, shown_in, pages - shown_in),
                flush=True,
            )
            results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in args.modes}
            for run in range(args.runs):
                for mode in args.modes:
                    events = args.refresh_events if mode == "refresh" else args.events
                    live_clients.quiet(server.process.pid)
                    before = live_regions.renders(server.port)
                    result = asyncio.run(
                        measure(server.port, url, fixtures, pages, args.browsers, events, mode, base)
                    )
                    result["renders"] = (live_regions.renders(server.port) - before) / events
                    base += events
                    results[mode].append(result)
                    print(
                        "  pages=%d run=%d %s: DOM %d of %d p50=%.1fms p99=%.1fms; sockets %d of %d"
                        " p50=%.1fms p99=%.1fms; renders/event=%.2f page-GETs/event=%.1f"
                        % (
                            pages,
                            run + 1,
                            mode,
                            len(result["dom"]),
                            result["expected_dom"],
                            *p50_p99(result["dom"]),
                            len(result["crowd"]),
                            result["expected_crowd"],
                            *p50_p99(result["crowd"]),
                            result["renders"],
                            result["fetches"],
                        ),
                        flush=True,
                    )
            for mode, runs in results.items():
                dom = [p50_p99(r["dom"]) for r in runs]
                crowd = [p50_p99(r["crowd"]) for r in runs if r["crowd"]]
                print(
                    "pages=%d %-7s medians (min-max) of %d runs: commit-to-DOM p50 %s ms, p99 %s ms%s;"
                    " renders/event %.2f, page GETs/event %.1f"
                    % (
                        pages,
                        mode,
                        len(runs),
                        live_regions.spread([d[0] for d in dom]),
                        live_regions.spread([d[1] for d in dom]),
                        "; socket clients p50 %s ms, p99 %s ms"
                        % (
                            live_regions.spread([c[0] for c in crowd]),
                            live_regions.spread([c[1] for c in crowd]),
                        )
                        if crowd
                        else "",
                        statistics.median(r["renders"] for r in runs),
                        statistics.median(r["fetches"] for r in runs),
                    ),
                    flush=True,
                )
        print("load average after: %s" % " ".join("%.2f" % x for x in os.getloadavg()), flush=True)


if __name__ == "__main__":
    main()
