"""The algorithm seam (docs/architecture.md): one registry maps a name to its algorithm, nothing else
branches on the name, and a batch's optimizer steps are the algorithm's to choose."""

import ast
import os
import re
import typing

import numpy as np
import pytest

from common import algorithms
from common.algorithms.actor_critic import ActorCritic
from common.config import Config, ConfigError, LearnerConfig, ModelConfig, from_dict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGISTRY = os.path.join("common", "algorithms", "__init__.py")

# A comparison with the algorithm's name, as the code spelled it before the seam.
NAME_TESTS = [
    re.compile(r"algorithm\s*(==|!=)"),
    re.compile(r"(==|!=)\s*[\w.]*\balgorithm\b"),
    re.compile(r"algorithm\s+(not\s+)?in\s*[(\[{]"),
    re.compile(r"is_value_method\("),
    re.compile(r"\bmatch\s+[\w.]*algorithm\b"),
]


def _compares_algorithm(node: ast.AST) -> bool:
    """A comparison (==, !=, in, not in, is) with `algorithm` or `<x>.algorithm` on either side."""

    def named(n):
        return (isinstance(n, ast.Name) and n.id == "algorithm") or (
            isinstance(n, ast.Attribute) and n.attr == "algorithm"
        )

    return isinstance(node, ast.Compare) and any(named(n) for n in [node.left, *node.comparators])


def name_branches(source: str) -> list[str]:
    """The lines of `source` that compare an algorithm's name (by pattern, and by the parsed comparisons)."""
    lines = source.splitlines()
    found = {i for i, line in enumerate(lines) if any(p.search(line.split("#")[0]) for p in NAME_TESTS)}
    found |= {node.lineno - 1 for node in ast.walk(ast.parse(source)) if _compares_algorithm(node)}
    return [lines[i].strip() for i in sorted(found)]


def _sources():
    for package in ("actor", "learner", "common"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                path = os.path.relpath(os.path.join(dirpath, name), ROOT)
                if name.endswith(".py") and path != REGISTRY:
                    yield path


def test_the_detector_sees_every_spelling_of_a_name_branch():
    for bad in (
        'if cfg.algorithm == "a3c":\n    pass\n',
        'x = algorithm != "sarsa_1step"\n',
        'x = cfg.algorithm in ("q_1step", "q_nstep")\n',
        'x = "q_nstep" == self.cfg.algorithm\n',
        "x = is_value_method(cfg.algorithm)\n",
        'x = algorithm not in {"a3c"}\n',
        "x = cfg.algorithm in VALUE_METHODS\n",
    ):
        assert name_branches(bad), bad
    assert not name_branches('algo = algorithms.get(cfg)\nprint(f"{cfg.algorithm} on {cfg.env.id}")\n')


def test_no_module_but_the_registry_branches_on_the_algorithm_name():
    offenders = {}
    for path in _sources():
        with open(os.path.join(ROOT, path)) as fh:
            lines = name_branches(fh.read())
        if lines:
            offenders[path] = lines
    assert not offenders, f"ask common.algorithms.get(cfg) instead of comparing the name: {offenders}"


def test_the_registry_knows_every_name_the_config_allows():
    allowed = typing.get_args(typing.get_type_hints(Config)["algorithm"])
    assert set(algorithms.NAMES) == set(allowed)
    for name in algorithms.NAMES:
        algo = algorithms.get(name)
        assert algo.name == name
        assert os.path.isfile(os.path.join(ROOT, "common", "algorithms", algo.family, "__init__.py")), algo.family
        assert len(algo.head_sizes(6)) == len(algo.heads) and algo.head_sizes(6)[0] == 6


def test_get_takes_a_config_a_name_or_an_algorithm():
    cfg = from_dict({"algorithm": "sarsa_1step"})
    algo = algorithms.get(cfg)
    assert algorithms.get("sarsa_1step") is algo and algorithms.get(algo) is algo
    assert algo.carries_next_action and algo.uses_epsilon and algo.family == "value"
    assert algorithms.get("a3c").family == "actor_critic" and not algorithms.get("a3c").uses_epsilon


@pytest.mark.parametrize("name", ["ppo", "", "A3C", None, 3])
def test_an_unknown_algorithm_is_one_line(name):
    with pytest.raises(ConfigError) as info:
        algorithms.get(name)
    text = str(info.value)
    assert text.startswith(f"algorithm: {name!r} is not one of a3c, ") and "\n" not in text


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"algorithm": "q_nstep", "model.core": "lstm"}, "model.core: the lstm core is built for a3c (A3C-LSTM)"),
        ({"algorithm": "sarsa_1step", "learner.correction": "vtrace"}, "learner.correction: vtrace corrects"),
    ],
)
def test_the_config_asks_the_algorithm_what_it_cannot_use(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        from_dict({}, overrides)
    from_dict({}, {**overrides, "algorithm": "a3c"})  # the actor-critic takes either


def test_the_update_schedule_counts_batches_versions_frames_and_optimizer_steps():
    cfg = from_dict({"env": {"num_envs": 4}, "actor": {"unroll_length": 5}, "learner": {"batch_unrolls": 2}})
    one = algorithms.get(cfg).schedule(cfg, frames_per_step=4)
    assert one.frames_per_batch == 2 * 5 * 4 * 4 and one.optimizer_steps_per_batch == 1
    assert one.frames_at(10) == 1600 and one.batches_for(1600) == 10 and one.batches_for(1601) == 11
    assert one.optimizer_steps(10) == 10
    many = algorithms.UpdateSchedule(160, epochs=3, minibatches=2)
    assert many.optimizer_steps_per_batch == 6 and many.optimizer_steps(10) == 60 and many.frames_at(10) == 1600


class _TwoByTwo(ActorCritic):
    """A3C that takes 2 epochs of 2 minibatches per batch: the hook an algorithm like APPO uses."""

    def epochs_and_minibatches(self, cfg):
        return 2, 2


def _random(rng, shape, dtype):
    if dtype == "bool":
        return rng.random(shape) < 0.2
    if dtype == "int32":
        return rng.integers(0, 3, shape).astype(dtype)
    return rng.normal(size=shape).astype(dtype)


def test_a_batch_gives_the_algorithms_optimizer_steps_over_minibatches_of_streams():
    from common.env import EnvSpec
    from common.model import build_model
    from common.transport import unroll_fields
    from learner.train_step import epoch_minibatches, init_state, make_lr_schedule, make_optimizer, make_train_step

    B, T, E = 2, 5, 4
    spec, cfg = EnvSpec((4,), "float32", 3, 1), LearnerConfig(microbatch_samples=12)  # chunks of 2 streams
    rng = np.random.default_rng(0)
    fields = unroll_fields(spec.obs_shape, spec.obs_dtype, 3, T, E)
    batch = {k: _random(rng, (B, *shape), dtype) for k, (shape, dtype) in fields.items()}

    def run(algo, batches):
        model = build_model(spec, ModelConfig(torso="mlp"), seed=3, algorithm=algo)
        optimizer = make_optimizer(cfg, make_lr_schedule(cfg, 100), algo)
        state, step = init_state(model, optimizer), make_train_step(model, optimizer, cfg, E, T, algo, seed=5)
        for b in batches:
            state, metrics = step(state, b, np.float32(0.01))
        return state, metrics

    state, metrics = run(_TwoByTwo("a3c_2x2"), [batch])

    def streams(ids):  # the batch's streams b * E + e, as one unroll of len(ids) envs [1, T(+1), len(ids), ...]
        b, e = np.asarray(ids) // E, np.asarray(ids) % E
        return {k: np.swapaxes(v[b, :, e], 0, 1)[None] if v.ndim >= 3 else v[b, e][None] for k, v in batch.items()}

    # Each epoch splits the 8 streams into 2 random minibatches of 4: four one-step updates on them.
    splits = [np.asarray(epoch_minibatches(5, 0, epoch, B * E, 2)) for epoch in (0, 1)]
    assert not np.array_equal(splits[0], splits[1])
    expected, _ = run(algorithms.get("a3c"), [streams(part) for split in splits for part in split])
    for got, want in zip(state.trainable, expected.trainable):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
    assert int(state.optimizer[0]) == 4  # the optimizer's iterations: the learning-rate schedule's position
    assert set(metrics) >= {"losses/total", "losses/grad_norm", "learner/skipped_update"}
