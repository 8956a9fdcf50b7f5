"""The side-by-side benchmark's report: docs/benchmarks*.md and its plot from one raw result.

The figures are computed in bench/figures.py, the page written by bench/report_page.py, the plot
drawn by bench/report_plot.py.
"""

from __future__ import annotations

import pathlib
from typing import Any

from bench import figures, report_page, report_plot


def write(result: dict[str, Any], docs: pathlib.Path) -> None:
    docs.mkdir(parents=True, exist_ok=True)
    s = figures.summary(result)
    # daphne (the default server) gives the main page; other servers get their own files.
    server = result["config"]["server"]
    suffix = "" if server == "daphne" else "_" + server
    (docs / ("benchmarks%s.md" % suffix)).write_text(report_page.markdown(result, s, suffix))
    report_plot.plot(result, s, docs / ("latency_vs_subscribers%s.png" % suffix))
