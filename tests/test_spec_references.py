"""Every section reference in the code, tests and docs names a section that exists.

The reference forms (docs/spec.md says so at its top):

- the numerical contract: the keyword in capitals followed by a section number
  (``SPEC 5``, ``SPEC 5.3``) is that section of docs/spec.md; lists such as
  ``SPEC 5, 6`` or ``SPEC 5 and 6`` name each number;
- another page's numbered sections: the page's path from the repository root (or a
  Markdown link whose text is that path), a section sign and the number,
  ``docs/math.md §12.3``;
- inside a Markdown page, a section sign and a number alone is that page's own
  section.

Anything else that looks like a section reference is an error: the keyword with
no number after it (allowed only in the released entries of CHANGELOG.md, which
are history), the word "section" followed by a number, a page path followed by a
comma and a number, a section sign outside a Markdown page with no page path.
"""
import pathlib
import re

import pytest

pytestmark = pytest.mark.docs

ROOT = pathlib.Path(__file__).parent.parent
SPEC_PAGE = "docs/spec.md"
SCANNED_DIRS = ("ppo_ref", "tests", "property_tests", "docs")
SCANNED_FILES = ("README.md", "CHANGELOG.md", "Makefile", "CITATION.cff", "pyproject.toml")
SUFFIXES = {".py", ".md", ".json", ".toml", ".cff", ".txt", ".cfg", ".yml", ".yaml"}

S = "SP" + "EC"  # the keyword, spelt so that this file's own samples below are not references
NUM = r"\d+(?:\.\d+)*"
LIST_SEP = r"(?:\s*,\s*|\s+and\s+|\s+to\s+)"
SPEC_WORD = re.compile(rf"(?<![\w-]){S}(?![\w-])")
SPEC_NUMBERS = re.compile(rf"\s+({NUM}(?:{LIST_SEP}{NUM})*)\b")
SPEC_PLACEHOLDER = re.compile(r"\s+n(?:\.m)?\b")  # "SPEC n", "SPEC n.m": the form itself, in prose
PAGE_REF = re.compile(  # the page's path, bare or as a Markdown link's text, then the section sign
    rf"(?<![\w/.-])([\w./-]+\.md)(?:\]\([^)\s]*\))?\s*§\s*({NUM}(?:{LIST_SEP}§?\s*{NUM})*)")
OWN_REF = re.compile(rf"§\s*({NUM})")
BAD_FORMS = (
    (re.compile(r"\bsections?\s+\d", re.I), "'section' and a number: write SPEC n or <page>.md §n"),
    (re.compile(r"\.md,\s*(?:sections?\s+)?\d"), "a page, a comma and a number: write <page>.md §n"),
)
HEADING = re.compile(rf"^#{{1,6}}\s+({NUM})\.?\s")
FENCE = re.compile(r"^\s*(```|~~~)")


def numbered_sections(text):
    """The section numbers of a Markdown page's headings ('## 3. X', '### 3.2 Y'),
    fenced code blocks skipped."""
    found, in_code = set(), False
    for line in text.splitlines():
        if FENCE.match(line):
            in_code = not in_code
        elif not in_code and (m := HEADING.match(line)):
            found.add(m.group(1))
    return found


def _numbers(listed):
    return re.findall(NUM, listed)


def check_text(name, text, sections_of, history_from=None):
    """Errors, as 'name:line: message', for the references in ``text``.

    ``name``: the file's path from the repository root (a Markdown file's bare §n
    refers to it). ``sections_of(page)``: the set of section numbers of a page, or
    None when there is no such page. ``history_from``: the first line (1-based) of
    released history, where a bare SPEC is allowed.
    """
    errors = []
    own = name.endswith(".md")
    for lineno, line in enumerate(text.splitlines(), 1):
        def err(msg):
            errors.append(f"{name}:{lineno}: {msg}")

        for m in SPEC_WORD.finditer(line):
            rest = line[m.end():]
            nums = SPEC_NUMBERS.match(rest)
            if nums:
                for n in _numbers(nums.group(1)):
                    if n not in (sections_of(SPEC_PAGE) or set()):
                        err(f"{S} {n}: {SPEC_PAGE} has no section {n}")
            elif not SPEC_PLACEHOLDER.match(rest) and not (history_from and lineno >= history_from):
                err(f"{S} without a section number: write {S} n (a section of {SPEC_PAGE})")
        covered = []
        for m in PAGE_REF.finditer(line):
            covered.append(m.span())
            page, secs = m.group(1), sections_of(m.group(1))
            if secs is None:
                err(f"{page} §{m.group(2)}: no page {page} (write the path from the repository root)")
                continue
            for n in _numbers(m.group(2)):
                if n not in secs:
                    err(f"{page} §{n}: {page} has no section {n}")
        for m in OWN_REF.finditer(line):
            if any(a <= m.start() < b for a, b in covered):
                continue
            n = m.group(1)
            if not own:
                err(f"§{n}: a section sign outside a Markdown page needs the page, <page>.md §{n}")
            elif n not in (sections_of(name) or set()):
                err(f"§{n}: {name} has no section {n}")
        for pattern, msg in BAD_FORMS:
            if pattern.search(line):
                err(f"{pattern.search(line).group(0)!r}: {msg}")
    return errors


def scanned_files():
    """Every text file of the code, tests and docs, except this one: its samples
    below are broken references on purpose."""
    files = [ROOT / f for f in SCANNED_FILES if (ROOT / f).is_file()]
    for d in SCANNED_DIRS:
        files += [p for p in (ROOT / d).rglob("*") if p.is_file() and p.suffix in SUFFIXES
                  and "__pycache__" not in p.parts]
    return sorted(p for p in files if p.resolve() != pathlib.Path(__file__).resolve())


def repo_sections(page):
    path = ROOT / page
    return numbered_sections(path.read_text()) if path.is_file() and path.suffix == ".md" else None


def history_start(text):
    """The first line of CHANGELOG.md's released entries (after '## [Unreleased]')."""
    for lineno, line in enumerate(text.splitlines(), 1):
        if re.match(r"^## \[\d", line):
            return lineno
    return None


# ---------------------------------------------------------------- the repository


def test_the_contract_has_its_eight_sections():
    secs = repo_sections(SPEC_PAGE)
    assert {str(n) for n in range(1, 9)} <= secs


def test_every_section_reference_names_a_section_that_exists():
    errors, count = [], 0
    for path in scanned_files():
        name = path.relative_to(ROOT).as_posix()
        text = path.read_text(errors="replace")
        count += len(SPEC_WORD.findall(text)) + text.count("§")
        history = history_start(text) if name == "CHANGELOG.md" else None
        errors += check_text(name, text, repo_sections, history)
    assert not errors, "references to sections that do not exist, or in another form:\n" + "\n".join(errors)
    assert count > 100  # the scan sees the references (about 130 when this test was written)


# ---------------------------------------------------------------- the scanner itself

PAGES = {SPEC_PAGE: {"1", "2", "2.1", "5", "6"}, "docs/math.md": {"3", "12", "12.3"}}


def _check(name, text, history_from=None):
    return check_text(name, text, PAGES.get, history_from)


def test_scanner_accepts_references_to_existing_sections():
    text = (f"See {S} 2.1 and ({S} 5, 6), {S} 5 and 6, {S} 1 to {S} 2.\n"
            "The math is in docs/math.md §12.3 and §3; _STATE_" + S + " is a name.\n"
            f"The form is {S} n or {S} n.m.\n")
    assert _check("ppo_ref/x.py", text) == []
    assert _check("docs/math.md", "as in §" + "12 and §" + "3\n") == []


def test_scanner_names_file_line_and_reference_of_a_missing_section():
    text = f"fine: {S} 2\nbroken: {S} 9 and {S} 2.2\n"
    assert _check("ppo_ref/x.py", text) == [
        f"ppo_ref/x.py:2: {S} 9: docs/spec.md has no section 9",
        f"ppo_ref/x.py:2: {S} 2.2: docs/spec.md has no section 2.2",
    ]
    assert _check("ppo_ref/x.py", f"({S} 5, 7)\n") == [f"ppo_ref/x.py:1: {S} 7: docs/spec.md has no section 7"]


def test_scanner_checks_other_pages_and_a_pages_own_sections():
    assert _check("README.md", "docs/math.md §" + "12.4\n") == [
        "README.md:1: docs/math.md §12.4: docs/math.md has no section 12.4"]
    assert _check("README.md", "[docs/math.md](docs/math.md) §" + "12.3 and §" + "13\n") == [
        "README.md:1: docs/math.md §13: docs/math.md has no section 13"]
    assert _check("README.md", "math.md §" + "12\n") == [
        "README.md:1: math.md §12: no page math.md (write the path from the repository root)"]
    assert _check("docs/math.md", "see §" + "4\n") == ["docs/math.md:1: §4: docs/math.md has no section 4"]
    assert _check("ppo_ref/x.py", "see §" + "3\n") == [
        "ppo_ref/x.py:1: §3: a section sign outside a Markdown page needs the page, <page>.md §3"]


def test_scanner_rejects_the_other_forms():
    assert _check("docs/a.md", "by " + S + " (the contract)\n") == [
        f"docs/a.md:1: {S} without a section number: write {S} n (a section of docs/spec.md)"]
    assert _check("CHANGELOG.md", f"new\n{S} preamble\n", history_from=2) == []
    assert _check("docs/a.md", "math.md sec" + "tion 12\n")[0].startswith("docs/a.md:1: 'section 1'")
    assert _check("docs/a.md", "(docs/math.md" + ", 12.3)\n")[0].startswith("docs/a.md:1: '.md, 1'")


def test_headings_in_code_blocks_are_not_sections():
    assert numbered_sections("## 1. A\n### 1.2 B\n```\n# 3. not a heading\n```\n## 4 C\n") == {"1", "1.2", "4"}
