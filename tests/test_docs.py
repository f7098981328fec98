"""The docs resolve.

1. Every relative link and image in a tracked Markdown file (README.md, docs/, models/*/README.md,
   benchmarks/RESULTS.md) points at a tracked file or folder inside the repository, and its
   `#anchor`, in the same file or another Markdown file, is one of that file's headings under
   GitHub's rules (tests/md_links.py). Web links are not followed (no network).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest
from md_links import anchors, link_targets, slug
from proc_utils import ROOT

WEB = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http:, https:, mailto:


def tracked() -> list[str]:
    res = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip("not a git checkout: no list of tracked files")
    return [p for p in res.stdout.split("\0") if p and (Path(ROOT) / p).is_file()]


def link_problem(md: str, target: str, files: set[str], headings) -> str | None:
    """Why a link `target` in the Markdown file `md` does not resolve, or None."""
    ref, _, anchor = unquote(target).partition("#")
    dest = (Path(ROOT) / md).parent / ref if ref else Path(ROOT) / md
    try:
        rel = dest.resolve().relative_to(Path(ROOT).resolve()).as_posix()
    except ValueError:
        return "outside the repository"
    if rel not in files and not any(f.startswith(rel + "/") for f in files):
        return "no such tracked file or folder"
    if anchor and (not rel.endswith(".md") or anchor not in headings(rel)):
        return f"no heading #{anchor} in {rel}"
    return None


def test_slugs_follow_github():
    assert slug("Score weights: python -m actor.evaluate") == "score-weights-python--m-actorevaluate"
    assert slug("Remote actors: bytes on the wire (issue 18, item 4), 2026-12-01") == (
        "remote-actors-bytes-on-the-wire-issue-18-item-4-2026-12-01"
    )
    text = "# Play\n## `make test`\n```bash\n# not a heading\n```\n## Play\n## Play\n"
    assert anchors(text) == {"play", "make-test", "play-1", "play-2"}


def test_every_relative_link_and_anchor_resolves():
    files = set(tracked())
    cache: dict[str, set[str]] = {}

    def headings(md: str) -> set[str]:
        return cache.setdefault(md, anchors((Path(ROOT) / md).read_text()))

    broken = []
    for md in sorted(f for f in files if f.endswith(".md")):
        for target in link_targets((Path(ROOT) / md).read_text()):
            problem = None if WEB.match(target) else link_problem(md, target, files, headings)
            if problem:
                broken.append(f"{md}: ({target}): {problem}")
    assert broken == [], "\n".join(broken)
