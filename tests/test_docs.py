"""The docs name only files and modules that exist: a move or a rename that forgets the docs fails here."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PATH = re.compile(r"\b((?:explorer|app_pages|bench|tests)/[\w/]+\.py)\b")
MODULE = re.compile(r"\b(explorer(?:\.\w+)+)\b")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_file_and_module_a_doc_names_exists(doc):
    text = doc.read_text()
    missing = [p for p in set(PATH.findall(text)) if not (ROOT / p).is_file()]
    for dotted in set(MODULE.findall(text)):  # explorer.wing.module, maybe followed by an attribute
        parts = dotted.split(".")
        if not (
            _module(parts) or ROOT.joinpath(*parts[:-1]).with_suffix(".py").is_file()
        ):  # a module, or a name in one
            missing.append(dotted)
    assert not missing, f"{doc.name} names what does not exist: {sorted(missing)}"


def _module(parts: list[str]) -> bool:
    path = ROOT.joinpath(*parts)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()
