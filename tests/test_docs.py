"""The docs resolve, and no tracked file names a file that only some machine has.

1. Every relative link and image in a tracked Markdown file (README.md, docs/, models/*/README.md,
   benchmarks/RESULTS.md) points at a tracked file or folder inside the repository, and its
   `#anchor`, in the same file or another Markdown file, is one of that file's headings under
   GitHub's rules (tests/md_links.py). Web links are not followed (no network).

2. No tracked text file names a path outside the repository: a fresh clone on another machine has
   only the repository, so what its tests, scripts and docs name must be in it. Read as text:
   - a relative path that climbs out of the checkout (`../NAME`, from the root, where the
     project's commands run; Markdown link targets are checked by (1) instead);
   - an absolute path, unless its first folder is in ALLOWED_ROOTS: the system's own folders, the
     project's own folders inside its Docker image (`/app`, `/opt/venv`), and `/tmp`, scratch that
     a program, test or benchmark makes for itself. A folder of one machine's own layout (where it
     kept checkouts and runs) is refused whatever its name.
   In the benchmark records (RECORDS) `/tmp` is refused too: there a path says where a
   measurement's files lay on the machine that ran it, which is gone; records give run folders
   relative to the checkout (`runs/...`) and name scratch files by file name.
   EXCEPTIONS lists the few matches that name no file, each with its reason. This file is not
   scanned: it names the forms it looks for.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest
from md_links import anchors, link_targets, slug
from proc_utils import ROOT

ALLOWED_ROOTS = {
    **dict.fromkeys(["bin", "dev", "etc", "lib", "proc", "run", "sbin", "sys", "usr", "var"], "the system's own"),
    "app": "the project's folder in its Docker image (the Dockerfile's WORKDIR)",
    "opt": "the image's virtualenv, /opt/venv",
    "tmp": "scratch a program, test or benchmark makes for itself",
}
RECORDS = ("benchmarks/RESULTS.md", "benchmarks/results/")
EXCEPTIONS = {
    ("docs/docker.md", "/some/path"): "a placeholder for the reader's own folder",
    ("docs/reliability.md", "../../tmp/x"): "a run name the learner refuses, named in the table of faults",
    ("tests/test_run_folder.py", "../../tmp/x"): "a run name the learner must refuse",
    ("tests/test_atari_row.py", "/x/docs/img/b.png"): "a made-up input, never opened",
    ("tests/test_atari_row.py", "/elsewhere"): "a made-up run folder, never opened",
    ("tests/test_container.py", "/root"): "root's home directory, the HOME the test sets",
}
ABSOLUTE = re.compile(r"(?:^|(?<=[\s`'\"(\[=,]))/[A-Za-z_][\w.-]*(?:/[\w.<>*-]*)*", re.M)
CLIMB = re.compile(r"(?<![\w./])(?<!\]\()(?:\.\./)+[\w.-]+(?:/[\w.-]+)*")
WEB = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http:, https:, mailto:


def tracked() -> list[str]:
    res = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip("not a git checkout: no list of tracked files")
    return [p for p in res.stdout.split("\0") if p and (Path(ROOT) / p).is_file()]


def text_of(path: str) -> str | None:
    data = (Path(ROOT) / path).read_bytes()
    if b"\0" in data:
        return None  # weights, images
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def outside_paths(path: str, text: str) -> list[str]:
    """The matches of `text` (the tracked file `path`) that name a path outside the repository."""
    found = [m.group() for m in CLIMB.finditer(text)]
    for m in ABSOLUTE.finditer(text):
        root = m.group().split("/")[1]
        if root not in ALLOWED_ROOTS or (root == "tmp" and path.startswith(RECORDS)):
            found.append(m.group())
    return [p for p in found if (path, p) not in EXCEPTIONS]


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


def test_the_rule_refuses_paths_of_a_machine_and_keeps_the_projects_own():
    sibling, machine = "../" + "shared/docker/provision", "/" + "work/runs/pong/x.h5"  # split: `git grep` finds none
    bad = f"{sibling}, see {machine} and `/home/me/asyncrl`"
    assert outside_paths("docs/x.md", bad) == [sibling, machine, "/home/me/asyncrl"]
    good = "[a](../configs/x.yaml) `RUNS_DIR=/app/runs` in /dev/shm; tmp_path or /tmp/x; https://x.org/a frames/s"
    assert outside_paths("docs/x.md", good) == []
    assert outside_paths("benchmarks/RESULTS.md", "from `/tmp/run-f942041`") == ["/tmp/run-f942041"]


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


def test_no_tracked_file_names_a_path_outside_the_repository():
    found = []
    for path in tracked():
        text = None if path == "tests/test_docs.py" else text_of(path)
        for p in outside_paths(path, text or ""):
            found.append(f"{path}: {p}")
    assert found == [], "paths outside the repository (see this file's docstring for the rule):\n" + "\n".join(found)
