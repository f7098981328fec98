"""The package's own metadata builds without a warning (issue 40: the first `make install` printed
about 200 lines of setuptools deprecation warnings about the license fields)."""

import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# setuptools 77 is the first to read `project.license` as an SPDX expression and `license-files`.
SPDX_SETUPTOOLS = 77
# Prints every warning the build backend raises, one per line, to stdout.
BUILD_SCRIPT = """
import sys, warnings
from setuptools import build_meta
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    getattr(build_meta, sys.argv[1])(sys.argv[2])
for w in caught:
    print("WARNING", w.category.__name__, str(w.message).strip().splitlines()[0])
"""


def _major(version: str) -> int:
    return int(version.split(".")[0])


def test_license_is_an_spdx_expression_not_a_classifier():
    project = PYPROJECT["project"]
    assert project["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert project["license-files"] == ["LICENSE"]
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]


def test_build_system_requires_a_setuptools_that_reads_spdx():
    (requirement,) = PYPROJECT["build-system"]["requires"]
    name, _, minimum = requirement.partition(">=")
    assert name == "setuptools"
    assert _major(minimum) >= SPDX_SETUPTOOLS


@pytest.mark.skipif(
    _major(metadata.version("setuptools")) < SPDX_SETUPTOOLS,
    reason=f"needs setuptools>={SPDX_SETUPTOOLS} in this environment (the dev extra brings it)",
)
@pytest.mark.parametrize(
    "hook, wheel",
    [
        ("build_wheel", "asyncrl-0.1.0-py3-none-any.whl"),  # pip install . (the Dockerfile)
        ("build_editable", "asyncrl-0.1.0-0.editable-py3-none-any.whl"),  # pip install -e . (make install)
    ],
)
def test_wheel_builds_without_a_warning(tmp_path, hook, wheel):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    for package in ("actor", "common", "learner"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "wheel"
    out.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", BUILD_SCRIPT, hook, str(out)], cwd=source, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    warnings = [line for line in done.stdout.splitlines() if line.startswith("WARNING ")]
    assert warnings == []
    assert [p.name for p in out.glob("*.whl")] == [wheel]
