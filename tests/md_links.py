"""Links and heading anchors of a Markdown file, as GitHub renders them (for tests/test_docs.py).

Only what this repository's Markdown uses: ATX headings (`## Title`), inline links and images
(`[text](target "title")`, `![alt](target)`) and reference definitions (`[name]: target`).
Fenced code blocks and code spans are not text: a `# comment` in a bash block is no heading and
a `[x](y)` in backticks is no link.
"""

from __future__ import annotations

import re
import unicodedata

FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.M)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.M)
HTML_TAG = re.compile(r"<[^>]+>")


def without_code_blocks(text: str) -> str:
    return FENCE.sub("", text)


def heading_text(raw: str) -> str:
    """The text GitHub shows for a heading's source: code spans keep their content, links their text."""
    text = CODE_SPAN.sub(lambda m: m.group(2), raw)
    text = INLINE_LINK.sub(lambda m: re.match(r"!?\[(.*)\]", m.group(0)).group(1), text)
    return HTML_TAG.sub("", text).replace("*", "")


def slug(text: str) -> str:
    """GitHub's anchor of a heading (github-slugger): lowercase; drop every character but letters,
    digits, marks, `_`, `-` and spaces; each space becomes a hyphen (runs are not collapsed)."""
    kept = (ch for ch in text.lower() if ch.isalnum() or ch in "_- " or unicodedata.category(ch).startswith("M"))
    return "".join(kept).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading anchor of a file; the n-th repeat of a slug gets `-n` (`x`, `x-1`, `x-2`)."""
    seen: dict[str, int] = {}
    out = set()
    for m in HEADING.finditer(without_code_blocks(text)):
        base = slug(heading_text(m.group(1)))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def link_targets(text: str) -> list[str]:
    """Every link and image target, in order, with `<...>` brackets removed."""
    text = CODE_SPAN.sub("", without_code_blocks(text))
    found = [m.group(1) for m in INLINE_LINK.finditer(text)] + [m.group(1) for m in REFERENCE.finditer(text)]
    return [t[1:-1] if t.startswith("<") else t for t in found]
