"""Where played frames go: a GIF or MP4 file, or a window on the screen.

Frames are `[H, W, 3] uint8` colour screens, one per agent step, shown at `fps`
(the game's own speed: 60 / frame_skip for Atari). Errors a user can cause
(an unknown suffix, no display, a missing package) are `VideoError`, one line.
"""

from __future__ import annotations

import os
import sys

import numpy as np


class VideoError(ValueError):
    """A recording or window that cannot be made; the message is one line meant for the user."""


VIDEO_SUFFIXES = (".gif", ".mp4")


def check_record_path(path: str) -> None:
    """Refuse a path we cannot write before any game is played."""
    if not path.lower().endswith(VIDEO_SUFFIXES):
        raise VideoError(f"--record {path!r}: the file name must end in .gif or .mp4")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise VideoError(f"--record {path!r}: the folder {folder!r} does not exist")
    if path.lower().endswith(".mp4"):
        try:
            import imageio_ffmpeg  # noqa: F401  (ships an ffmpeg binary in its wheel)
        except ImportError:
            raise VideoError("--record .mp4 needs the imageio-ffmpeg package (pip install imageio-ffmpeg)") from None


def gif_durations_ms(count: int, fps: float) -> list[int]:
    """Per-frame GIF delays whose sum tracks real time: GIF delays are whole hundredths of a second,
    so 15 fps (66.7 ms) alternates 70, 70 and 60 ms instead of running 5% slow."""
    ends = [round((i + 1) * 100.0 / fps) * 10 for i in range(count)]  # in ms, multiples of 10
    return [max(b - a, 10) for a, b in zip([0] + ends[:-1], ends)]


class GifWriter:
    """Collects frames as palette images (an Atari screen has at most 128 colours: lossless, 1 byte a pixel)."""

    def __init__(self, path: str, fps: float):
        self.path, self.fps = path, fps
        self._images = []

    def add(self, frame: np.ndarray) -> None:
        from PIL import Image

        self._images.append(Image.fromarray(np.ascontiguousarray(frame)).quantize(colors=256, dither=Image.Dither.NONE))

    def close(self) -> int:
        """Write the file (atomically) and return the number of frames in it."""
        if not self._images:
            return 0
        tmp = f"{self.path}.tmp"
        first, rest = self._images[0], self._images[1:]
        durations = gif_durations_ms(len(self._images), self.fps)
        first.save(
            tmp, format="GIF", save_all=True, append_images=rest, duration=durations, loop=0, optimize=False, disposal=1
        )
        os.replace(tmp, self.path)
        return len(self._images)


class Mp4Writer:
    """Streams frames to ffmpeg (H.264) as they come, so long episodes do not pile up in memory."""

    def __init__(self, path: str, fps: float):
        self.path, self.fps = path, fps
        self._gen = None
        self._count = 0

    def add(self, frame: np.ndarray) -> None:
        if self._gen is None:
            import warnings

            import imageio_ffmpeg

            # ffmpeg is started with fork + exec: the child runs no JAX code, so JAX's fork warning does not apply.
            warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)

            height, width = frame.shape[:2]
            self._gen = imageio_ffmpeg.write_frames(
                self.path,
                (width, height),
                fps=self.fps,
                codec="libx264",
                pix_fmt_in="rgb24",
                macro_block_size=2,
                ffmpeg_log_level="error",  # keep the game's size (Atari: 160x210)
            )
            self._gen.send(None)
        self._gen.send(np.ascontiguousarray(frame))
        self._count += 1

    def close(self) -> int:
        if self._gen is not None:
            self._gen.close()
        return self._count


def open_recording(path: str, fps: float):
    check_record_path(path)
    return Mp4Writer(path, fps) if path.lower().endswith(".mp4") else GifWriter(path, fps)


def check_display() -> None:
    """Refuse `--render` where no window can open, before any game is played."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise VideoError(
            "--render needs a display and none was found (DISPLAY is not set); "
            "use --record out.gif to watch the game later"
        )
    try:
        import pygame
    except ImportError:
        raise VideoError("--render needs pygame (pip install pygame)") from None
    if "SDL_VIDEODRIVER" not in os.environ:  # the display we were given, not a probe of every backend (noisy)
        os.environ["SDL_VIDEODRIVER"] = "wayland" if os.environ.get("WAYLAND_DISPLAY") else "x11"
    try:
        pygame.display.init()
        driver = pygame.display.get_driver()
    except pygame.error as exc:
        where = os.environ.get("WAYLAND_DISPLAY") or os.environ.get("DISPLAY")
        raise VideoError(
            f"--render: no window can be opened on display {where!r} ({exc}); "
            "use --record out.gif to watch the game later"
        ) from None
    finally:
        pygame.display.quit()
    # SDL falls back to an invisible driver when the display cannot be reached; unless asked for, that is no window.
    if driver in ("offscreen", "dummy") and os.environ.get("SDL_VIDEODRIVER") != driver:
        where = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        raise VideoError(
            f"--render: the display {where!r} cannot be reached (SDL fell back to {driver!r}); "
            "use --record out.gif to watch the game later"
        )


class Window:
    """A window showing the frames at the game's speed, through gymnasium's HumanRendering wrapper."""

    def __init__(self, fps: float):
        import gymnasium as gym
        from gymnasium.wrappers import HumanRendering

        class _Frames(gym.Env):  # an env that only renders the frame it is given
            metadata = {"render_modes": ["rgb_array"], "render_fps": fps}
            render_mode = "rgb_array"
            frame = None

            def step(self, action):
                return None, 0.0, False, False, {}

            def render(self):
                return self.frame

        self._source = _Frames()
        self._window = HumanRendering(self._source)

    def add(self, frame: np.ndarray) -> None:
        self._source.frame = frame
        try:
            self._window.step(None)  # HumanRendering draws (and keeps the pace) on every step
        except Exception as exc:
            raise VideoError(f"--render: the window failed ({exc})") from None

    def close(self) -> int:
        self._window.close()
        return 0
