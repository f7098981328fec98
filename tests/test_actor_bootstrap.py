"""Time-limit bootstrapping in the actor: a game cut by a time limit keeps its value."""

import numpy as np

from actor.loop import bootstrap_truncated
from actor.policy import make_value_step
from common.config import ModelConfig
from common.env import EnvSpec
from common.model import build_model, initial_core, model_variables

VECTOR = EnvSpec(obs_shape=(4,), obs_dtype="float32", num_actions=2, frames_per_step=1)


def test_only_cut_games_get_the_discounted_value():
    reward = np.array([1.0, 1.0, 0.0], np.float32)
    truncated = np.array([True, False, True])
    out = bootstrap_truncated(reward, truncated, np.array([10.0, 99.0, -2.0]), gamma=0.9)
    np.testing.assert_allclose(out, [1.0 + 9.0, 1.0, -1.8])
    assert out.dtype == np.float32


def test_value_step_is_the_models_value_or_best_q():
    obs = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    a3c = build_model(VECTOR, ModelConfig())
    params = [v.value for v in model_variables(a3c)]
    np.testing.assert_allclose(make_value_step(a3c)(params, obs, ()), np.asarray(a3c(obs)[1])[:, 0], rtol=1e-5)
    q = build_model(VECTOR, ModelConfig(), algorithm="q_nstep")
    params = [v.value for v in model_variables(q)]
    q_values = np.asarray(q(obs)[0] if isinstance(q(obs), (list, tuple)) else q(obs))
    np.testing.assert_allclose(make_value_step(q, "q_nstep")(params, obs, ()), q_values.max(-1), rtol=1e-5)


def test_value_step_of_the_lstm_model_reads_the_core():
    lstm = build_model(VECTOR, ModelConfig(core="lstm", lstm_size=8))
    params = [v.value for v in model_variables(lstm)]
    obs = np.ones((2, 4), np.float32)
    h, c = initial_core(lstm, 2)
    expected = lstm([obs[:, None], np.zeros((2, 1), np.float32), h, c])[1]
    np.testing.assert_allclose(make_value_step(lstm)(params, obs, (h, c)), np.asarray(expected)[:, 0, 0], rtol=1e-5)
