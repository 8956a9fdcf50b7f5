"""The fan-out stage: one room, many subscribers, one server; a fixed rate, then a rising one."""

from __future__ import annotations

import time
from typing import Any

from bench import figures, gcmetrics
from bench.drivers import Both, Clients, Sequence, Writer
from bench.rig import FIXED_RATE, P99_BUDGET_MS, WARM_SOCKETS, Config
from bench.servers import Server, serving


def fan_out_round(
    server: Server, clients: Clients, writer: Writer, seq: Sequence, subscribers: int, count: int, rate: float
) -> dict[str, Any]:
    """Write ``count`` messages at ``rate``; collect every subscriber's frames for them."""
    cpu_before = server.cpu()
    first = seq.take(count)
    committed = writer.write(first, count, rate)
    expected = count * subscribers
    last_progress, last_seen = time.monotonic(), -1
    give_up = time.monotonic() + 20
    while time.monotonic() < give_up:
        seen, closed = clients.received()
        if seen >= expected or closed >= subscribers:
            break
        if seen != last_seen:
            last_progress, last_seen = time.monotonic(), seen
        elif time.monotonic() - last_progress > 2.0:
            break
        time.sleep(0.05)
    cpu = server.cpu() - cpu_before
    seqs, times, closes = clients.dump()
    latencies = []
    for s, t in zip(seqs, times, strict=True):
        index = s - first
        if 0 <= index < count:
            latencies.append((t - committed[index]) * 1000.0)
    latencies.sort()
    span = committed[-1] - committed[0] if count > 1 else 1.0
    achieved = (count - 1) / span if span > 0 else rate
    result: dict[str, Any] = {
        "subscribers": subscribers,
        "events": count,
        "rate_target": rate,
        "rate": achieved,
        "expected": expected,
        "received": len(latencies),
        "lost": expected - len(latencies),
        "closes": closes,
        "deliveries_per_s": achieved * subscribers,
        # Server CPU (user + system) per frame delivered: robust to other load on the machine.
        "cpu_us_per_frame": cpu * 1e6 / len(latencies) if latencies else None,
    }
    result.update(figures.percentiles(latencies))
    result["sustained"] = (
        result["lost"] == 0 and not closes and result["p99"] is not None and result["p99"] <= P99_BUDGET_MS
    )
    return result


def fan_out_stage(
    design: str, subscribers: int, config: Config, fixtures: dict[str, Any], sweep_rates: bool = True
) -> dict[str, Any]:
    """One server process, ``subscribers`` sockets on one room: memory, fixed rate, rate sweep."""
    path = "/ws/room/%d" % fixtures["room_id"]
    out: dict[str, Any] = {"design": design, "subscribers": subscribers}
    with serving(design, config) as server:
        cookies = fixtures["cookies"][:subscribers]
        warm = Clients(server.port, path, cookies[:WARM_SOCKETS], 1)
        time.sleep(0.5)
        rss_before = server.rss()
        rest = Clients(server.port, path, cookies[WARM_SOCKETS:], config.client_procs)
        time.sleep(1.0)
        rss_after = server.rss()
        opened = warm.opened + rest.opened
        out["opened"] = opened
        out["rss_mb"] = rss_after / 2**20
        out["rss_kb_per_socket"] = (rss_after - rss_before) / max(1, rest.opened) / 1024
        both = Both(warm, rest)
        writer = Writer(design, config, fixtures)
        seq = Sequence()
        try:
            fan_out_round(server, both, writer, seq, opened, 5, 5.0)  # warm-up, not recorded
            gc_before = gcmetrics.read(server.port) if design != "baseline" else None
            out["fixed"] = fan_out_round(
                server, both, writer, seq, opened, int(FIXED_RATE * config.fixed_seconds), FIXED_RATE
            )
            out["fixed"]["gc"] = gcmetrics.delta(
                gc_before, gcmetrics.read(server.port) if gc_before else None
            )
            sweep = []
            for target in config.targets if sweep_rates else []:
                rate = target / opened
                # Enough events for a p99 over subscribers x events frames, without minutes per round.
                count = max(5, int(rate * config.sweep_seconds), min(20, int(rate * 10)))
                result = fan_out_round(server, both, writer, seq, opened, count, rate)
                if not result["sustained"] and not result["closes"]:
                    # Other load on the machine can spoil one round: a rate fails only twice.
                    time.sleep(1.0)
                    result = fan_out_round(server, both, writer, seq, opened, count, rate)
                sweep.append(result)
                print(
                    "  %-8s n=%-5d target %6d/s: rate %.1f/s p99 %s ms lost %d closes %s cpu %s us/frame"
                    % (
                        design,
                        opened,
                        target,
                        result["rate"],
                        figures.ms(result["p99"]),
                        result["lost"],
                        result["closes"] or "-",
                        figures.ms(result["cpu_us_per_frame"]),
                    ),
                    flush=True,
                )
                if not result["sustained"]:
                    break
            out["sweep"] = sweep
            held = [r for r in sweep if r["sustained"]]
            out["best"] = max(held, key=lambda r: r["deliveries_per_s"]) if held else None
        finally:
            writer.stop()
            both.stop()
    return out
