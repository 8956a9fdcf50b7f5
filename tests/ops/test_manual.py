"""The manual stays complete where no build can tell: every public name has its reference entry.

``mkdocs build --strict`` (``make docs``) fails on a broken link inside the manual, but not on a
name added to ``listener.__all__`` without an entry in the reference, nor on a README link into
the manual that no longer leads anywhere, nor on a Sphinx role in a docstring (the reference
renders docstrings as Markdown and shows ``:class:`` as it is): these tests do.
"""

from __future__ import annotations

import pathlib
import re

import listener

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENTRY = re.compile(r"^::: listener\.(\w+)$", re.MULTILINE)
LINK = re.compile(r"\]\(((?!https?:|#)[^)#\s]+)(?:#[^)]*)?\)")
SPHINX_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|data|attr|mod|exc|obj|ref|const):`")


def test_the_reference_documents_every_public_name() -> None:
    documented = ENTRY.findall((ROOT / "docs" / "reference" / "api.md").read_text())
    assert sorted(documented, key=str.lower) == sorted(listener.__all__, key=str.lower)


def test_every_readme_link_leads_to_a_file() -> None:
    targets = LINK.findall((ROOT / "README.md").read_text())
    assert any(t.startswith("docs/tutorial") for t in targets), "README does not link the tutorial"
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert missing == []


def test_docstrings_are_markdown_without_sphinx_roles() -> None:
    # A cross-reference is [`Topic`][listener.Topic]; mkdocstrings links it and checks it exists.
    found = [
        "%s:%d" % (path.relative_to(ROOT), number)
        for path in sorted((ROOT / "listener").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if SPHINX_ROLE.search(line)
    ]
    assert found == []
