"""The documentation names tests and modules that exist: a reader who follows
`tests/test_x.py::test_y` or `ppo_ref/x.py` from the docs finds it."""

import pathlib
import re

import pytest

pytestmark = pytest.mark.docs

ROOT = pathlib.Path(__file__).parent.parent
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
TEST_REF = re.compile(r"\b((?:tests|property_tests)/[a-z_]+\.py)::([A-Za-z0-9_]+)")
FILE_REF = re.compile(r"\b((?:ppo_ref|tests|property_tests)/[A-Za-z0-9_/]+\.py)\b")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_test_and_file_the_docs_name_exists(doc):
    text = doc.read_text()
    for path, name in TEST_REF.findall(text):
        assert re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.M), f"{doc.name} names {path}::{name}"
    for path in FILE_REF.findall(text):
        assert (ROOT / path).is_file(), f"{doc.name} names {path}"
