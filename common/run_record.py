"""A run folder's record of its settings: `config.json` as the run started, and `resumes.jsonl`.

`config.json` is written once, when a run starts, and never rewritten. Each later leg (`--resume`,
or `--resume-or-start` continuing a run) appends one JSON line to `resumes.jsonl` before it trains:

    {"time": "2025-01-31T12:00:00Z", "frames": 5000, "changes": {"actor.count": [2, 4]}}

`frames` is where the leg starts; `changes` holds every config field the leg set to another value,
dotted, as [old, new]. Where the run lives (`name`, `run.dir`) is the folder, not a setting: it is
not recorded. The settings in force at the end of a run are config.json with every line's changes
applied in order (`run_config`); `common.config.load` applies them whenever it reads a run's
config.json, so playing, evaluating, exporting and plotting a run use the settings it ended with.
A run written before this record existed has no resumes.jsonl: its config.json is taken as it is.
"""

from __future__ import annotations

import json
import os
import time

CONFIG_NAME = "config.json"
RESUMES_NAME = "resumes.jsonl"
LOCATION = ("name", "run.dir")  # where the run lives, not how it trains


class RecordError(ValueError):
    """resumes.jsonl cannot be read; one line for the user (common.config.load makes it a ConfigError)."""


def leaves(tree: dict, prefix: str = "") -> dict:
    """{'learner.learning_rate': 0.0007, ...}: the dotted leaves of a nested config dict."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def changes(before: dict, after: dict) -> dict:
    """{dotted field: [old, new]} for every field of the config dict `after` that differs from `before`
    (a field `before` lacks has old None), the run's location left out."""
    old, new = leaves(_plain(before)), leaves(_plain(after))
    return {k: [old.get(k), v] for k, v in new.items() if k not in LOCATION and old.get(k) != v}


def _plain(tree: dict) -> dict:
    """The dict as JSON gives it back (tuples as lists): what a comparison with a read-back record needs."""
    return json.loads(json.dumps(tree))


def resumes(run_path: str) -> list[dict]:
    """The lines of `<run_path>/resumes.jsonl`, oldest first; [] when there is none. RecordError if damaged."""
    path = os.path.join(run_path, RESUMES_NAME)
    if not os.path.isfile(path):
        return []
    out = []
    with open(path) as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                leg = json.loads(line)
            except (ValueError, RecursionError):
                raise RecordError(f"{path} line {number} is not JSON") from None
            if not isinstance(leg, dict) or not isinstance(leg.get("changes"), dict):
                raise RecordError(f"{path} line {number} holds no 'changes' mapping")
            out.append(leg)
    return out


def with_resumes(config: dict, run_path: str) -> dict:
    """The config dict `config` (a run's config.json) with the changes of every leg in `run_path` applied."""
    tree = _plain(config)
    for leg in resumes(run_path):
        for dotted, change in leg["changes"].items():
            if not isinstance(change, list) or len(change) != 2:
                raise RecordError(f"{os.path.join(run_path, RESUMES_NAME)}: {dotted!r} is not [old, new]")
            node = tree
            *sections, key = dotted.split(".")
            for section in sections:
                node = node.setdefault(section, {})
                if not isinstance(node, dict):
                    raise RecordError(f"{os.path.join(run_path, RESUMES_NAME)}: {dotted!r} is not a config field")
            node[key] = change[1]
    return tree


def run_config(run_path: str) -> dict:
    """The settings in force at the end of the run in `run_path`: config.json plus resumes.jsonl.
    OSError / ValueError (RecordError among them) when they cannot be read."""
    with open(os.path.join(run_path, CONFIG_NAME)) as fh:
        config = json.load(fh)
    if not isinstance(config, dict):
        raise RecordError(f"{os.path.join(run_path, CONFIG_NAME)} holds no run config")
    return with_resumes(config, run_path)


def record_resume(run_path: str, frames: int, changed: dict) -> None:
    """Append one leg's line to resumes.jsonl: one write of one line, flushed to disk before training."""
    line = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "frames": int(frames), "changes": changed}
    fd = os.open(os.path.join(run_path, RESUMES_NAME), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
