"""Videos of a policy: ``ppo-ref eval RUN_DIR --video out.mp4`` (or ``--gif out.gif``).

The policy acts as in :func:`ppo_ref.evaluate.evaluate`, with the observation
statistics frozen, and MuJoCo renders each frame off screen, with no display:
through EGL, or OSMesa where EGL does not work (``MUJOCO_GL`` chooses, when it is
set). Frames are written with imageio (the extra ``ppo_ref[video]``): MP4 through
its ffmpeg plugin, whose binary ships in the wheel, and GIF through Pillow. A GIF
keeps every k-th frame, so that it plays at about 25 frames per second (Pillow
stores identical consecutive frames as one, shown for their summed duration).
"""

import contextlib
import math
import os
import subprocess
import sys

from tqdm import tqdm

from ppo_ref.config import ConfigError
from ppo_ref.envs.errors import EnvError
from ppo_ref.errors import import_optional

BACKENDS = ("egl", "osmesa")
GIF_FPS = 25
_PROBE = "from mujoco.{0} import GLContext\nc = GLContext(8, 8)\nc.make_current()\nc.free()\n"


def choose_gl_backend():
    """The headless OpenGL backend MuJoCo renders with: ``MUJOCO_GL`` when it is set,
    else the first of EGL and OSMesa that makes a context. Each is tried in a
    subprocess (PyOpenGL binds a process to one platform for good), then set in
    ``MUJOCO_GL`` and ``PYOPENGL_PLATFORM`` for this process. Raises a one-line
    EnvError when neither works."""
    chosen = os.environ.get("MUJOCO_GL")
    if chosen:
        return chosen.lower()
    reasons = []
    for name in BACKENDS:
        env = {**os.environ, "MUJOCO_GL": name, "PYOPENGL_PLATFORM": name}
        probe = subprocess.run([sys.executable, "-c", _PROBE.format(name)], env=env, capture_output=True,
                               text=True, timeout=120)
        if probe.returncode == 0:
            os.environ["MUJOCO_GL"] = os.environ["PYOPENGL_PLATFORM"] = name
            return name
        lines = [line.strip() for line in probe.stderr.splitlines() if line.strip()]
        reasons.append(f"{name}: {lines[-1] if lines else 'exit code ' + str(probe.returncode)}")
    raise EnvError("cannot render without a display: neither EGL nor OSMesa makes an OpenGL context ("
                   + "; ".join(reasons) + "); install the EGL library (Debian: apt-get install libegl1 "
                   "libgl1-mesa-dri) or OSMesa (apt-get install libosmesa6)")


def _imageio():
    return import_optional("imageio.v2", "writing a video", "video")


def is_gif(path):
    """Whether ``path`` names a GIF (``.gif``, any case): the rule of ``--gif`` and of ``--video``."""
    return str(path).lower().endswith(".gif")


class _Output:
    """One file being written: every ``stride``-th frame of the episodes."""

    def __init__(self, path, env_fps):
        iio = _imageio()
        if not is_gif(path):
            import_optional("imageio_ffmpeg", "an MP4 video", "video",
                            "or write a GIF, which needs only imageio: --gif OUT.gif")
        self.path = path
        self.frames = 0
        # The frames go to a temporary file beside the output (its extension kept:
        # ffmpeg picks the container by it), renamed to the output once complete.
        root, ext = os.path.splitext(path)
        self.tmp = f"{root}.tmp-{os.getpid()}{ext}"
        try:
            open(self.tmp, "xb").close()
        except OSError as err:
            err.filename = path  # the file asked for, not its temporary name
            raise
        self.stride = max(1, round(env_fps / GIF_FPS)) if is_gif(path) else 1
        self.fps = env_fps / self.stride
        try:
            if is_gif(path):
                self.writer = iio.get_writer(self.tmp, format="GIF", mode="I", duration=1000 / self.fps, loop=0)
            else:
                self.writer = iio.get_writer(self.tmp, format="FFMPEG", mode="I", fps=env_fps, codec="libx264",
                                             quality=6, pixelformat="yuv420p", macro_block_size=2,
                                             ffmpeg_log_level="error")
        except BaseException:
            os.remove(self.tmp)
            raise

    def finish(self):
        """Close the writer and rename the file to its output name."""
        self.writer.close()
        if os.path.getsize(self.tmp) == 0:  # the encoder stopped without writing (its own messages say why)
            raise EnvError(f"writing {self.path} failed: the encoder wrote nothing")
        os.replace(self.tmp, self.path)

    def discard(self):
        """Close the writer and remove the unfinished file."""
        with contextlib.suppress(Exception):
            self.writer.close()
        with contextlib.suppress(OSError):
            os.remove(self.tmp)


def check_outputs(outputs):
    """Refuse an output file that exists (nothing written before is replaced) and
    two outputs that name one file."""
    seen = set()
    for path in outputs:
        if os.path.lexists(path):
            raise ConfigError(f"{path} exists already; choose another file name")
        real = os.path.realpath(path)
        if real in seen:
            raise ConfigError(f"--video and --gif both name {path}; give each its own file")
        seen.add(real)


def record(path_or_run, outputs, episodes=1, deterministic=False, seed=0, width=320, height=240, max_steps=None,
           progress=None):
    """Render ``episodes`` episodes of the checkpoint's policy into each file of
    ``outputs`` (MP4, or GIF when the name ends in .gif), none of which may exist;
    each is written to a temporary file and renamed once complete, so a failed
    recording leaves no file. Episode k is reset with seed ``seed + k``, as in
    evaluate. ``max_steps`` cuts each episode short.
    Returns ``(returns, {path: (frames, fps)}, backend)``."""
    from ppo_ref.envs.make import make_env
    from ppo_ref.evaluate import load_actor

    if width < 1 or height < 1:
        raise ConfigError(f"the frame size ({width}x{height}) must be positive")
    if max_steps is not None and max_steps < 1:
        raise ConfigError(f"--max-steps ({max_steps}) must be a positive integer")
    check_outputs(outputs)
    _imageio()
    env_id, act = load_actor(path_or_run, deterministic, seed)
    backend = choose_gl_backend()
    try:
        # The model's tracking camera, where it has one (Hopper, Humanoid, Walker2d, ...):
        # gymnasium's default camera stands still while the body walks out of view.
        env = make_env(env_id, render_mode="rgb_array", width=width, height=height, camera_name="track")
    except TypeError:  # an env that takes no camera name renders with its own camera
        try:
            env = make_env(env_id, render_mode="rgb_array", width=width, height=height)
        except TypeError:
            raise EnvError(f"cannot render {env_id}: --video and --gif render MuJoCo envs off screen, and "
                           f"{env_id} takes no frame size (width, height)") from None
    files, returns = [], []
    try:
        env_fps = env.metadata.get("render_fps") or 30
        for path in outputs:
            files.append(_Output(path, env_fps))
        limit = env.spec.max_episode_steps if env.spec is not None else None
        per_episode = min(x for x in (max_steps, limit, math.inf) if x is not None)
        bar = tqdm(total=episodes * per_episode if per_episode != math.inf else None, unit="step",
                   dynamic_ncols=True, disable=(not sys.stderr.isatty()) if progress is None else not progress,
                   desc=f"rendering {env_id} ({backend})")
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed + ep)
            total, t, done = 0.0, 0, False
            while True:
                wanted = [f for f in files if t % f.stride == 0]
                if wanted:
                    frame = _render(env, backend)
                    for f in wanted:
                        f.writer.append_data(frame)
                        f.frames += 1
                if done or t == max_steps:
                    break
                obs, reward, terminated, truncated, _ = env.step(act(obs))
                total += float(reward)
                t += 1
                done = terminated or truncated
                bar.update(1)
            if bar.total is not None and t < per_episode:
                bar.total -= per_episode - t  # the episode ended early
                bar.refresh()
            returns.append(total)
        bar.close()
        for f in files:
            f.finish()
    except BaseException:
        for f in files:
            f.discard()
        raise
    finally:
        env.close()
    return returns, {f.path: (f.frames, f.fps) for f in files}, backend


def _render(env, backend):
    try:
        return env.render()
    except Exception as err:  # the GL backend failed after its probe: one line, not a traceback
        raise EnvError(f"rendering with MUJOCO_GL={backend} failed: {type(err).__name__}: {err}") from None
