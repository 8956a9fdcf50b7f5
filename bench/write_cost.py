"""The write-cost stage: inserts/s of chat messages per mode, with 1 and 8 concurrent writers."""

from __future__ import annotations

from typing import Any

from bench import writers
from bench.rig import CTX, Config
from bench.servers import serving


def stage(config: Config, fixtures: dict[str, Any]) -> dict[str, Any]:
    """Inserts/s per mode with 1 and 8 concurrent writers, our server's listener running."""
    env = {"BENCH_REDIS_PREFIX": config.redis_prefix, "DJANGO_DEBUG": "0"}
    modes = list(writers.MODES)
    # Every mode in short slices, in a rotated order each round.
    schedule = [
        m for r in range(config.write_rounds) for m in modes[r % len(modes) :] + modes[: r % len(modes)]
    ]
    out: dict[str, Any] = {}
    with serving("ours", config):
        for count in (1, 8):
            barrier = CTX.Barrier(count)
            results: Any = CTX.Queue()
            processes = [
                CTX.Process(
                    target=writers.throughput_main,
                    args=(
                        schedule,
                        config.url,
                        fixtures["room_id"],
                        fixtures["sender_id"],
                        config.write_slice,
                        barrier,
                        results,
                        env,
                    ),
                )
                for _ in range(count)
            ]
            for process in processes:
                process.start()
            done = [results.get(timeout=600) for _ in processes]
            for process in processes:
                process.join(10)
            for mode in modes:
                rate = sum(d[mode] for d in done) / (config.write_slice * config.write_rounds)
                out["%s/%d" % (mode, count)] = rate
                print("  writes %-18s x%d: %8.0f inserts/s" % (mode, count, rate), flush=True)
    return out
