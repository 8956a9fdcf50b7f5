"""The machine a benchmark ran on, as its report names it: CPU, cores, memory, Python, Postgres, load."""

from __future__ import annotations

import datetime
import os
import pathlib
import platform
from typing import Any

import psutil
import psycopg


def describe(url: str) -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        version = row[0] if row else "?"
    return {
        "cpu": cpu,
        "cores": psutil.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
        "postgres": version,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_at_end": [round(x, 1) for x in os.getloadavg()],
    }
