"""The benchmark report's light-load section and the collector's figures (see bench/light.py)."""

from __future__ import annotations

from typing import Any

from bench import figures


def gc_cell(collections: figures.Figure, pause: figures.Figure) -> str:
    """Collections ("n in t ms"): collections of every generation and their total pause, medians."""
    if collections.median is None:
        return "n/a"
    return "%d in %.0f ms" % (collections.median, pause.median or 0.0)


def light_summary(result: dict[str, Any]) -> dict[str, Any] | None:
    rounds = [r["light"] for r in result["runs"] if r.get("light")]
    if not rounds:
        return None
    out: dict[str, Any] = {}
    for design in ("ours", "baseline"):
        stages = [r.get(design) for r in rounds]
        out[design] = {
            key: figures.Figure([s.get(key) if s else None for s in stages])
            for key in ("p50", "p99", "max", "lost", "rss_mb")
        }
        for key in ("collections", "pause_ms", "collections_2", "pause_2"):
            out[design]["gc_" + key] = figures.Figure(
                [(s.get("gc") or {}).get(key) if s and s.get("gc") else None for s in stages]
            )
    out["p99_ratio"] = figures.Figure(
        [
            figures.ratio((r.get("ours") or {}).get("p99"), (r.get("baseline") or {}).get("p99"))
            for r in rounds
        ]
    )
    out["p99_over_p50"] = figures.Figure(
        [figures.ratio((r.get("ours") or {}).get("p99"), (r.get("ours") or {}).get("p50")) for r in rounds]
    )
    return out


def light_section(result: dict[str, Any], s: dict[str, Any] | None) -> list[str]:
    if s is None:
        return []
    c = result["config"]
    lines = [
        "",
        "Light load, side by side: 1,000 subscribers, %g events/s for %g s (the collector's pauses show"
        " most here; GC: the server's collections during the round, all generations, and of those the"
        " full ones, read from its `/metrics`):" % (c.get("light_rate", 2), c.get("light_seconds", 30)),
        "",
        "| design | p50 ms | p99 ms | max ms | frames lost | GC all | GC full (gen 2) |"
        " p99 ratio ours/baseline |"
        " ours p99/p50 |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: |",
    ]
    for design in ("ours", "baseline"):
        row = s[design]
        lines.append(
            "| %s | %s | %s | %s | %s | %s | %s | %s | %s |"
            % (
                design,
                row["p50"].show(),
                row["p99"].show(),
                row["max"].show(),
                row["lost"].show("%d"),
                gc_cell(row["gc_collections"], row["gc_pause_ms"]) if design == "ours" else "not measured",
                gc_cell(row["gc_collections_2"], row["gc_pause_2"]) if design == "ours" else "",
                s["p99_ratio"].show("%.2f") if design == "ours" else "",
                s["p99_over_p50"].show("%.2f") if design == "ours" else "",
            )
        )
    return lines


def targets(s: dict[str, Any] | None, latency: list[dict[str, Any]], server: str) -> list[str]:
    rows = []
    if s is not None:
        ratio = s["p99_ratio"].median
        spread = s["p99_over_p50"].median
        if server == "daphne":
            rows.append(
                "| light load (1,000 subscribers, 2 events/s): p99 <= 0.25x baseline | %s | %s |"
                % (s["p99_ratio"].show("%.2fx"), figures.met(None if ratio is None else ratio <= 0.25))
            )
        rows.append(
            "| light load: p99 <= 1.5x our p50 | %s | %s |"
            % (s["p99_over_p50"].show("%.2fx"), figures.met(None if spread is None else spread <= 1.5))
        )
    if server == "uvicorn":
        p99 = next(
            (r["fixed_p99"].median for r in latency if r["design"] == "ours" and r["subscribers"] == 1000),
            None,
        )
        rows.append(
            "| p99 <= 35 ms at 1,000 subscribers, 10 events/s (uvicorn) | %s ms | %s |"
            % ("n/a" if p99 is None else "%.1f" % p99, figures.met(None if p99 is None else p99 <= 35.0))
        )
    return rows
