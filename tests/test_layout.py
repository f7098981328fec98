"""The dependency rule of docs/architecture.md: actor -> common <- learner, which never import each other."""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _imports(package):
    found = set()
    for dirpath, _, files in os.walk(os.path.join(ROOT, package)):
        for name in files:
            if name.endswith(".py"):
                tree = ast.parse(open(os.path.join(dirpath, name)).read())
                for node in ast.walk(tree):
                    if isinstance(node, ast.Import):
                        found.update(a.name.split(".")[0] for a in node.names)
                    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                        found.add(node.module.split(".")[0])
    return found


def test_actor_and_learner_do_not_import_each_other():
    assert "learner" not in _imports("actor")
    assert "actor" not in _imports("learner")
    assert not {"actor", "learner"} & _imports("common")


def test_every_console_script_names_a_main_that_exists():
    import importlib
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        scripts = tomllib.load(fh)["project"]["scripts"]
    wanted = {"asyncrl-train", "asyncrl-play", "asyncrl-eval", "asyncrl-plot", "asyncrl-export", "asyncrl-actor"}
    assert wanted <= set(scripts)
    for name, target in scripts.items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), name
