"""`python -m actor.play`: recordings, the colour emulator's lockstep, and one clear line for each bad input."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from actor import play
from actor.video import gif_durations_ms
from common.config import from_dict
from common.env import make_env, probe_spec
from common.model import build_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _weights(tmp_path, env_id, name="w.weights.h5", seed=1):
    """Untrained weights of the default model for `env_id`, in a bare file (no config.json beside it)."""
    cfg = from_dict({"env": {"id": env_id}})
    path = str(tmp_path / name)
    build_model(probe_spec(cfg.env), cfg.model, seed=seed).save_weights(path)
    return path


def _cli(*args):
    """Run the play CLI as a user would; returns (exit code, stdout, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "actor.play", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_record_gif_of_a_short_pong_episode(tmp_path):
    from PIL import Image

    weights = _weights(tmp_path, "ALE/Pong-v5")
    out = tmp_path / "pong.gif"
    rc, stdout, stderr = _cli(
        weights, "--env", "ALE/Pong-v5", "--episodes", "1", "--max-steps", "40", "--record", str(out)
    )
    assert rc == 0, stderr
    assert "episode   1: score" in stdout and "(40 steps, cut)" in stdout
    assert "recorded 41 frames at 15 fps" in stdout  # the first screen + one per agent step
    with Image.open(out) as gif:
        assert gif.size == (160, 210)  # the emulator's own screen, not the agent's 84x84
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
            if i == 20:
                colours = np.asarray(gif.convert("RGB")).reshape(-1, 3)
    # Pillow stores identical consecutive screens once with their delays added, so count frames by time:
    # 41 frames at 60 Hz / frame skip 4 = 15 fps last 41/15 s.
    assert sum(durations) == sum(gif_durations_ms(41, 15.0)) == 2730
    assert 2 <= len(durations) <= 41
    assert len(np.unique(colours, axis=0)) >= 3 and (colours[:, 0] != colours[:, 2]).any()  # in colour


@pytest.mark.filterwarnings("ignore:os.fork")  # imageio-ffmpeg starts ffmpeg from this (JAX-using) test process
def test_record_mp4_has_every_frame(tmp_path):
    import imageio_ffmpeg

    weights = _weights(tmp_path, "ALE/Pong-v5")
    out = tmp_path / "pong.mp4"
    rc, stdout, stderr = _cli(
        weights,
        "--env",
        "ALE/Pong-v5",
        "--episodes",
        "1",
        "--max-steps",
        "29",
        "--record",
        str(out),
        "--sticky",
        "0",
        "--no-op-starts",
        "0",
    )
    assert rc == 0, stderr
    assert "sticky actions 0.0" in stdout and "up to 0 no-op starts" in stdout
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(out))
    assert frames == 30 and abs(seconds - 2.0) < 0.1
    reader = imageio_ffmpeg.read_frames(str(out))
    assert next(reader)["size"] == (160, 210)
    reader.close()


def test_colour_emulator_plays_the_same_game_as_the_agents():
    from skimage.color import rgb2gray
    from skimage.transform import resize

    cfg = from_dict({"env": {"id": "ALE/Pong-v5", "noop_max": 30, "sticky_actions": 0.25}}).env
    plain, framed = make_env(cfg, 1, seed=7), make_env(cfg, 1, seed=7, with_frames=True)
    rng = np.random.default_rng(0)
    try:
        np.testing.assert_array_equal(plain.reset(), framed.reset())
        for t in range(300):
            actions = rng.integers(0, plain.spec.num_actions, size=1).astype(np.int32)
            a, b = plain.step(actions), framed.step(actions)
            np.testing.assert_array_equal(a.obs, b.obs)  # the policy sees exactly the training observations
            np.testing.assert_array_equal(a.reward, b.reward)
            frame = framed.frames()[0]  # [210, 160, 3] uint8
            assert frame.shape == (210, 160, 3) and frame.dtype == np.uint8
            if t in (100, 250):  # and the colour screen is the screen the agent saw (in gray, 84x84)
                small = resize(rgb2gray(frame), (84, 84), anti_aliasing=True) * 255.0
                same = np.abs(small - b.obs[0, -1]).mean()
                other = np.abs(small - np.flipud(b.obs[0, -1])).mean()
                assert same < 12 and same < other / 3, (same, other)
    finally:
        plain.close()
        framed.close()


def _main_error(capsys, *argv):
    rc = play.main(list(argv))
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


def test_missing_file(capsys, tmp_path):
    err = _main_error(capsys, str(tmp_path / "nope.weights.h5"), "--env", "CartPole-v1")
    assert "does not exist" in err


def test_not_hdf5(capsys, tmp_path):
    path = tmp_path / "notes.weights.h5"
    path.write_text("not weights\n")
    assert "is not an HDF5 file" in _main_error(capsys, str(path), "--env", "CartPole-v1")


def test_truncated_file(capsys, tmp_path):
    path = _weights(tmp_path, "CartPole-v1")
    data = open(path, "rb").read()
    with open(path, "wb") as fh:
        fh.write(data[: len(data) // 2])
    assert "damaged or truncated" in _main_error(capsys, path, "--env", "CartPole-v1")


def test_weights_of_another_env_name_the_layer_and_both_shapes(capsys, tmp_path):
    path = _weights(tmp_path, "CartPole-v1")  # 4 observations; Acrobot has 6
    err = _main_error(capsys, path, "--env", "Acrobot-v1")
    assert "layer 'fc1' has shapes [(4, 64), (64,)] in the file, the model needs [(6, 64), (64,)]" in err, err
    assert "Acrobot-v1" in err


def test_unknown_env(capsys, tmp_path):
    err = _main_error(capsys, _weights(tmp_path, "CartPole-v1"), "--env", "ALE/Pongg-v5")
    assert "unknown environment 'ALE/Pongg-v5'" in err


def test_bad_record_suffix_and_protocol_flags(capsys, tmp_path):
    path = _weights(tmp_path, "CartPole-v1")
    assert "must end in .gif or .mp4" in _main_error(capsys, path, "--env", "CartPole-v1", "--record", "x.avi")
    assert "applies to Atari games" in _main_error(capsys, path, "--env", "CartPole-v1", "--sticky", "0")
    assert "env.sticky_actions: must be <= 1.0" in _main_error(capsys, path, "--env", "ALE/Pong-v5", "--sticky", "2")


def test_render_without_a_display(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    err = _main_error(capsys, _weights(tmp_path, "CartPole-v1"), "--env", "CartPole-v1", "--render")
    assert "--render needs a display" in err


def test_render_on_an_unreachable_display(tmp_path):
    env = dict(os.environ, DISPLAY=":97", PYTHONUNBUFFERED="1")
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("SDL_VIDEODRIVER", None)
    proc = subprocess.run(
        [sys.executable, "-m", "actor.play", _weights(tmp_path, "CartPole-v1"), "--env", "CartPole-v1", "--render"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [proc.stderr.strip()], proc.stderr
    assert "--render: no window can be opened on display ':97'" in proc.stderr


def test_render_draws_every_frame_through_the_window(tmp_path, monkeypatch):
    """With SDL's in-memory video driver the window path runs end to end (no real display needed)."""
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    from actor.video import Window

    shown = []
    monkeypatch.setattr(
        Window, "add", lambda self, frame, _add=Window.add: (shown.append(frame.shape), _add(self, frame))
    )
    assert (
        play.main(
            [
                _weights(tmp_path, "ALE/Pong-v5"),
                "--env",
                "ALE/Pong-v5",
                "--episodes",
                "1",
                "--max-steps",
                "5",
                "--render",
            ]
        )
        == 0
    )
    assert shown == [(210, 160, 3)] * 6


def test_bad_input_from_the_command_line_is_one_line(tmp_path):
    rc, stdout, stderr = _cli(str(tmp_path / "missing"), "--env", "CartPole-v1")
    assert rc == 2 and stderr.strip().splitlines() == [stderr.strip()] and "Traceback" not in stderr
    assert stderr.startswith("error: ") and "does not exist" in stderr


@pytest.mark.parametrize("flags", [[], ["--greedy"]])
def test_run_folder_is_played_from_its_config(capsys, tmp_path, flags):
    """A run folder's config.json picks the env and model; scores are printed with the summary line."""
    from common import config as config_lib

    cfg = from_dict(
        {"name": "r", "env": {"id": "CartPole-v1"}, "model": {"mlp_hidden": [8]}, "run": {"dir": str(tmp_path)}}
    )
    os.makedirs(tmp_path / "r" / "checkpoints")
    config_lib.save(cfg, str(tmp_path / "r" / "config.json"))
    build_model(probe_spec(cfg.env), cfg.model, seed=0).save_weights(str(tmp_path / "r/checkpoints/latest.weights.h5"))
    assert play.main([str(tmp_path / "r"), "--episodes", "3", *flags]) == 0
    out = capsys.readouterr().out
    assert ("greedy" if flags else "sampling from the policy") in out.splitlines()[0]
    assert [line.startswith(f"episode   {i}") for i, line in enumerate(out.splitlines()[1:4], 1)] == [True] * 3
    assert out.splitlines()[-1].startswith("3 episodes: mean ")


@pytest.mark.parametrize(
    "launcher",
    [[], ["sh", "-c", 'trap "" INT; exec "$@"', "sh"]],  # the second: as `python -m actor.play ... &` in a script
    ids=["plain", "started-with-sigint-ignored"],
)
def test_ctrl_c_prints_the_games_finished_so_far(tmp_path, launcher):
    weights = _weights(tmp_path, "CartPole-v1")
    proc = subprocess.Popen(
        [*launcher, sys.executable, "-m", "actor.play", weights, "--env", "CartPole-v1", "--episodes", "100000"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        start_new_session=True,
    )
    lines = []
    for line in proc.stdout:  # wait for a few finished games
        lines.append(line)
        if line.startswith("episode   3:"):
            break
    proc.send_signal(signal.SIGINT)
    try:
        rest, _ = proc.communicate(timeout=180)  # a loaded CI machine is slow to shut down, not hung
    except subprocess.TimeoutExpired:
        proc.kill()
        rest, _ = proc.communicate()
        pytest.fail("play did not end within 180 s of Ctrl-C; its last output:\n" + rest[-2000:])
    last = rest.strip().splitlines()[-1]
    assert proc.returncode == 130, rest
    assert last.startswith("interrupted: ") and " episodes: mean " in last and "Traceback" not in rest
    assert int(last.split()[1]) >= 3  # the games played before the signal are counted
