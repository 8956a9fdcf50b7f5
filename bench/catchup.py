"""The catch-up stage (ours only): a page that missed events resumes from its last cursor."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bench import wsclient
from bench.drivers import Sequence, Writer
from bench.rig import Config
from bench.servers import serving


def stage(config: Config, fixtures: dict[str, Any]) -> dict[str, Any]:
    """Ours only: a page that missed ``catchup_events`` events reconnects with its last cursor."""
    times: list[float] = []
    with serving("ours", config) as server:
        writer = Writer("ours", config, fixtures)
        try:
            seq = Sequence()
            for _ in range(config.catchup_repeats):
                times.append(asyncio.run(_catch_up(server.port, writer, seq, config, fixtures)))
        finally:
            writer.stop()
    return {"ms": times}


async def _catch_up(
    port: int, writer: Writer, seq: Sequence, config: Config, fixtures: dict[str, Any]
) -> float:
    path = "/ws/room/%d" % fixtures["room_id"]
    recorder = wsclient.Recorder()
    page = await wsclient.open_socket(port, path, fixtures["cookies"][0], recorder, keep_frames=True)
    writer.write(seq.take(1), 1, 100.0)
    for _ in range(500):
        if page.frames:
            break
        await asyncio.sleep(0.01)
    cursor = json.loads(page.frames[-1])["cursor"]
    page.close()
    first = seq.take(config.catchup_events)
    writer.write(first, config.catchup_events, 1e6)
    recorder = wsclient.Recorder()
    started = time.monotonic()
    page = await wsclient.open_socket(
        port, "%s?cursor=%s" % (path, cursor), fixtures["cookies"][0], recorder, keep_frames=True
    )
    deadline = started + 30
    while len(recorder.seqs) < config.catchup_events and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    elapsed = (recorder.times[-1] - started) * 1000.0 if len(recorder.seqs) else float("nan")
    page.close()
    if list(recorder.seqs[: config.catchup_events]) != list(range(first, first + config.catchup_events)):
        raise RuntimeError("catch-up frames missing or out of order")
    return elapsed
