"""The library's import graph: no cycle, and arrows that point from sockets down to capture.

Every import counts, at module level, inside functions and under ``TYPE_CHECKING``: a cycle
hidden in a function is still a loop a reader has to follow. The wings, top to bottom, are ops,
sockets, layer, log and capture; the root modules below them (settings, exceptions, metrics,
connections, queries) import no wing. The entry points Django and settings name (``listener``
itself, ``apps``, ``sessions``, ``urls``, the management commands) sit above everything.
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "listener"

# Rank of each wing; a module may import modules of its own rank or lower, never higher.
WINGS = {"capture": 1, "log": 2, "layer": 3, "sockets": 4, "ops": 5}
# The event log's tables (and the library's others) declare capture's triggers.
ROOT_RANKS = {"models": 2}
ENTRY_POINTS = {"listener", "apps", "sessions", "urls"}
ENTRY_RANK = 6


def modules() -> dict[str, pathlib.Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if "migrations" in parts:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(name: str, path: pathlib.Path, known: set[str]) -> set[str]:
    """The library modules ``name`` imports anywhere in its file."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from listener import conf` imports the module `listener.conf`, not the package.
            targets = [
                "%s.%s" % (base, alias.name) if "%s.%s" % (base, alias.name) in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def rank(name: str) -> int:
    parts = name.split(".")
    if name == "listener" or parts[1] in ENTRY_POINTS or parts[1] == "management":
        return ENTRY_RANK
    if parts[1] in WINGS:
        return WINGS[parts[1]]
    return ROOT_RANKS.get(parts[1], 0)


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def test_no_import_cycle() -> None:
    edges = graph()
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(edges[node]):
            if state.get(target) == "open":
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == [], "import cycles: %s" % ["  ->  ".join(cycle) for cycle in cycles]


def test_arrows_point_down() -> None:
    upward = sorted(
        "%s (%d) imports %s (%d)" % (name, rank(name), target, rank(target))
        for name, targets in graph().items()
        for target in targets
        if rank(target) > rank(name)
    )
    assert upward == []


DEMO = sorted(
    path
    for folder in ("chat", "project")
    for path in (ROOT / folder).rglob("*.py")
    # Shipped migrations keep the paths they were written with (listener.migration_sql, fields).
    if "migrations" not in path.parts
)


@pytest.mark.parametrize("path", DEMO, ids=[str(path.relative_to(ROOT)) for path in DEMO])
def test_demo_uses_only_the_public_api(path: pathlib.Path) -> None:
    """The demo is built on ``listener.__all__`` (and the dotted paths settings name)."""
    allowed = {"listener", "listener.sessions", "listener.urls", "listener.layer"}
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    assert imports(module, path, set(modules())) - allowed == set()


SCRIPTS = sorted((ROOT / "chat" / "static").rglob("*.js"))
SPECIFIER = re.compile(r"""^\s*(?:import|export)\b[^;]*?\bfrom\s+["']([^"']+)["']""", re.MULTILINE)


@pytest.mark.parametrize("path", SCRIPTS, ids=[str(path.relative_to(ROOT)) for path in SCRIPTS])
def test_demo_scripts_import_the_client_by_name(path: pathlib.Path) -> None:
    """The demo's pages load realtime.js as the manual says: by the name ``{% realtime_script %}``'s
    import map gives it, never by a path into the library's static folder, which only holds while
    both apps' files sit side by side under one unhashed URL."""
    found = SPECIFIER.findall(path.read_text())
    assert found, "no imports found in %s" % path
    assert [name for name in found if "listener" in name and name != "listener/realtime.js"] == []


def test_the_checker_sees_a_cycle(tmp_path: pathlib.Path) -> None:
    """The walk finds imports hidden in functions and under TYPE_CHECKING (else it proves nothing)."""
    (tmp_path / "a.py").write_text("def f():\n    from listener.sockets import consumer\n")
    hidden = "import typing\nif typing.TYPE_CHECKING:\n    from listener.ops import views\n"
    (tmp_path / "b.py").write_text(hidden)
    known = {"listener.sockets.consumer", "listener.ops.views"}
    assert imports("x.a", tmp_path / "a.py", known) == {"listener.sockets.consumer"}
    assert imports("x.b", tmp_path / "b.py", known) == {"listener.ops.views"}
