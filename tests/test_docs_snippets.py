"""Every ```python block of README.md and docs/*.md runs.

Each fenced block whose info string is `python` is executed on its own, in a fresh namespace, in
this process (imports are shared, so JAX is imported once), from a temporary working directory.
A block that is deliberately not runnable (a Hydra command line, a file format, a sketch) must use
another fence (```bash, ```text, or none). Test ids are `<file>:<block index>` (0-based, in file
order), so a failure names the snippet; the block's first line number is in the failure message.

Snippets are documentation first: they stay small (1,000 products, not 10,000; no training), and
the whole file runs in well under a minute.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# An opening fence: up to 3 spaces, 3+ backticks or tildes, then the info string.
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)")

# Blocks known not to run, owned by someone else: strict xfail, so a fix shows up as XPASS (a
# failure) and the entry must then be removed.
KNOWN_BROKEN: dict[str, str] = {}


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """(first line number, source) of every ```python block of `path`, in order."""
    blocks, lines = [], path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, info = match.group(1), match.group(2).lower()
        body, j = [], i + 1
        while j < len(lines) and not (lines[j].strip().startswith(fence[0] * len(fence))
                                      and set(lines[j].strip()) == {fence[0]}):
            body.append(lines[j])
            j += 1
        if info in ("python", "py", "python3"):
            blocks.append((i + 2, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def _cases():
    cases = []
    for path in DOC_FILES:
        rel = path.relative_to(ROOT).as_posix()
        for index, (line, source) in enumerate(python_blocks(path)):
            name = f"{rel}:{index}"
            marks = ([pytest.mark.xfail(reason=KNOWN_BROKEN[name], strict=True)]
                     if name in KNOWN_BROKEN else [])
            cases.append(pytest.param(rel, line, source, id=name, marks=marks))
    return cases


CASES = _cases()


def test_snippets_found():
    """The extraction sees the documented snippets (guards against a fence format change)."""
    files = {case.values[0] for case in CASES}
    assert {"README.md", "docs/baselines.md", "docs/hybrid.md"} <= files, files
    ids = {case.id for case in CASES}
    assert set(KNOWN_BROKEN) <= ids, f"KNOWN_BROKEN names blocks that no longer exist: {set(KNOWN_BROKEN) - ids}"


def test_python_fences_are_labelled():
    """Every fence with an info string uses a known language, so a runnable block cannot hide
    behind a misspelt label (e.g. ```pyhton)."""
    known = {"", "python", "py", "python3", "bash", "sh", "console", "text", "yaml", "json", "csv",
             "toml", "ini"}
    for path in DOC_FILES:
        in_block = None
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = _FENCE.match(line)
            if not match:
                continue
            if in_block is None:
                in_block = match.group(1)
                assert match.group(2).lower() in known, f"{path.name}:{number}: unknown fence {match.group(2)!r}"
            elif set(line.strip()) == {in_block[0]}:
                in_block = None


@pytest.mark.parametrize("rel, line, source", CASES)
def test_snippet_runs(rel, line, source, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # snippets must not write into the repo
    code = compile(source, f"{rel} (block at line {line})", "exec")
    exec(code, {"__name__": "__doc_snippet__"})
