import keras
import numpy as np
import pytest

from common.config import ModelConfig
from common.env import EnvSpec
from common.model import build_model

PIXELS = EnvSpec(obs_shape=(4, 84, 84), obs_dtype="uint8", num_actions=6, frames_per_step=4)
VECTOR = EnvSpec(obs_shape=(4,), obs_dtype="float32", num_actions=2, frames_per_step=1)


# paper: conv 4112 + 8224, fc 2592*256+256, heads 256*6+6 + 257
# nature: conv 8224 + 32832 + 36928, fc 3136*512+512, heads 512*6+6 + 513
@pytest.mark.parametrize("torso,params", [("paper", 677_943), ("nature", 1_687_719)])
def test_conv_models_take_uint8_stacks(torso, params):
    model = build_model(PIXELS, ModelConfig(torso=torso))
    obs = np.random.default_rng(0).integers(0, 256, size=(3, 4, 84, 84), dtype=np.uint8)
    logits, value = model(obs)
    assert logits.shape == (3, 6) and value.shape == (3, 1)
    assert model.count_params() == params
    assert np.isfinite(np.asarray(logits)).all()


def test_mlp_model_shapes_and_auto_torso():
    model = build_model(VECTOR, ModelConfig())  # auto -> mlp for vectors
    logits, value = model(np.zeros((5, 4), np.float32))
    assert logits.shape == (5, 2) and value.shape == (5, 1)
    assert model.name == "a3c_mlp"


def test_conv_torso_refuses_vector_obs():
    with pytest.raises(ValueError, match="model.torso"):
        build_model(VECTOR, ModelConfig(torso="paper"))


def test_too_small_screen_is_a_config_error():
    from common.config import ConfigError

    small = EnvSpec(obs_shape=(4, 30, 30), obs_dtype="uint8", num_actions=6, frames_per_step=4)
    build_model(small, ModelConfig(torso="paper"))  # 30 >= 20 fits the paper network
    with pytest.raises(ConfigError, match="env.screen_size: the 'nature' torso needs at least 36"):
        build_model(small, ModelConfig(torso="nature"))


def test_initial_policy_is_near_uniform():
    model = build_model(PIXELS, ModelConfig(torso="paper"))
    obs = np.random.default_rng(1).integers(0, 256, size=(8, 4, 84, 84), dtype=np.uint8)
    logits, _ = model(obs)
    assert np.abs(np.asarray(logits)).max() < 0.5


@pytest.mark.parametrize("spec,torso", [(PIXELS, "paper"), (VECTOR, "mlp")])
def test_value_methods_get_a_q_head(spec, torso):
    model = build_model(spec, ModelConfig(torso=torso), algorithm="q_nstep")
    obs = np.zeros((3, *spec.obs_shape), spec.obs_dtype)
    q = model(obs)
    q = q[0] if isinstance(q, (list, tuple)) else q
    assert q.shape == (3, spec.num_actions)
    assert model.name == f"q_{torso}" and model.get_layer("q_values") is not None


@pytest.mark.parametrize("torso", ["paper", "nature"])
def test_orthogonal_init_gives_every_torso_kernel_gain_sqrt2(torso):
    model = build_model(PIXELS, ModelConfig(torso=torso, init="orthogonal"), seed=3)
    for layer in model.layers:
        if layer.name.startswith(("conv", "fc")):
            kernel = np.asarray(layer.kernel).reshape(-1, layer.kernel.shape[-1])  # [fan_in, units]
            small = min(kernel.shape)
            gram = kernel.T @ kernel if kernel.shape[0] >= kernel.shape[1] else kernel @ kernel.T
            np.testing.assert_allclose(gram, 2.0 * np.eye(small), atol=1e-4)  # orthogonal rows or columns, scaled
            assert not np.asarray(layer.bias).any()
    glorot = build_model(PIXELS, ModelConfig(torso=torso), seed=3)
    assert np.var(np.asarray(glorot.get_layer("conv1").kernel)) < np.var(np.asarray(model.get_layer("conv1").kernel))


def test_center_frames_subtracts_each_frames_mean_pixel():
    """center_frames: conv1 sees each frame minus its own mean (a NumPy reference), same weights as without."""
    spec = PIXELS
    centred = build_model(spec, ModelConfig(torso="paper", center_frames=True), seed=0)
    plain = build_model(spec, ModelConfig(torso="paper"), seed=0)
    assert [tuple(w.shape) for w in centred.weights] == [tuple(w.shape) for w in plain.weights]
    obs = np.random.default_rng(0).integers(0, 256, size=(3, *spec.obs_shape), dtype=np.uint8)  # [N, S, H, W]
    seen = keras.Model(centred.inputs, centred.get_layer("center_frames").output)(obs)  # [N, H, W, S]
    frames = obs.transpose(0, 2, 3, 1) / 255.0
    np.testing.assert_allclose(np.asarray(seen), frames - frames.mean(axis=(1, 2), keepdims=True), atol=1e-6)


def test_dense_norm_keeps_about_half_of_the_dense_units_firing():
    """dense_norm: LayerNorm before the dense ReLU, so a fresh model fires about half its units on any frame,
    and still does with every dense pre-activation pushed far down (what a collapse of the dense layer does)."""
    spec = EnvSpec((4, 84, 84), "uint8", 6, 4)
    model = build_model(spec, ModelConfig(torso="nature", dense_norm=True, init="orthogonal"), seed=0)
    fc = keras.Model(model.inputs, model.get_layer("fc").output)
    obs = np.random.default_rng(0).integers(0, 255, (16, 4, 84, 84), dtype=np.uint8)
    assert 0.3 < float(np.mean(np.asarray(fc(obs)) > 0)) < 0.7
    bias = model.get_layer("fc_linear").bias
    bias.assign(bias.value - 100.0)  # every unit far below 0 without the norm
    assert 0.3 < float(np.mean(np.asarray(fc(obs)) > 0)) < 0.7
    plain = build_model(spec, ModelConfig(torso="nature", init="orthogonal"), seed=0)
    assert "fc_norm" not in [layer.name for layer in plain.layers]  # off by default: old weights files still load
