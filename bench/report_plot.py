"""The latency-vs-subscribers plot of the side-by-side benchmark (docs/latency_vs_subscribers*.png)."""

from __future__ import annotations

import pathlib
from typing import Any


def plot(result: dict[str, Any], s: dict[str, Any], path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    fig, ax = pyplot.subplots(figsize=(7, 4.5))
    colors = {"ours": "tab:blue", "baseline": "tab:red"}
    for design in ("ours", "baseline"):
        rows = [r for r in s["latency"] if r["design"] == design]
        xs = [r["subscribers"] for r in rows]
        for key, style in (("fixed_p50", "--"), ("fixed_p99", "-")):
            ys = [r[key].median for r in rows]
            lo = [min(r[key].values) if r[key].values else None for r in rows]
            hi = [max(r[key].values) if r[key].values else None for r in rows]
            pts = [(x, y, a, b) for x, y, a, b in zip(xs, ys, lo, hi, strict=True) if y is not None]
            if not pts:
                continue
            ax.errorbar(
                [p[0] for p in pts],
                [p[1] for p in pts],
                yerr=[[p[1] - p[2] for p in pts], [p[3] - p[1] for p in pts]],
                linestyle=style,
                marker="o",
                capsize=3,
                color=colors[design],
                label="%s %s" % (design, key.split("_")[1]),
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("subscribers in one room, one server process")
    ax.set_ylabel("commit-to-frame latency, ms")
    ax.set_title(
        "Latency at %g events/s (median of %d runs, bars: min-max)"
        % (result["config"]["fixed_rate"], result["config"]["runs"])
    )
    ax.axhline(25, color="grey", linewidth=0.8, linestyle=":")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot.close(fig)
