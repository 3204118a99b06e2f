"""ppo-ref eval --video/--gif: a few frames of Hopper rendered headless (EGL, else
OSMesa) into files that decode back to the expected frame count and size."""

import os
import sys

import pytest

from ppo_ref import video
from ppo_ref.cli import main
from ppo_ref.envs.errors import EnvError

from conftest import train_tiny

pytestmark = pytest.mark.env

iio = pytest.importorskip("imageio.v2", reason="imageio is not installed (pip install 'ppo_ref[video]')")

W, H, STEPS = 64, 48, 12


@pytest.fixture
def clean_gl_env(monkeypatch):
    """MUJOCO_GL and PYOPENGL_PLATFORM as the user left them: unset (restored after
    the test, so the backend chosen here does not reach other tests' subprocesses)."""
    for name in ("MUJOCO_GL", "PYOPENGL_PLATFORM"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "run"
    train_tiny(path, "Hopper-v5")
    return path


@pytest.fixture
def gl_backend(clean_gl_env):
    try:
        return video.choose_gl_backend()
    except EnvError as err:
        pytest.skip(f"no headless OpenGL on this machine: {err}")


def test_mp4_and_gif_decode_to_the_expected_frames(run_dir, tmp_path, gl_backend, capsys):
    mp4, gif = tmp_path / "hopper.mp4", tmp_path / "hopper.gif"
    code = main(["eval", str(run_dir), "--video", str(mp4), "--gif", str(gif), "--width", str(W),
                 "--height", str(H), "--max-steps", str(STEPS), "--deterministic", "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert f"MUJOCO_GL={gl_backend}" in out
    # Hopper renders at 125 frames per second: the MP4 has every frame (the reset's
    # and one per step), the GIF every 5th (t = 0, 5, 10), at 25 frames per second.
    mp4_frames = [frame for frame in iio.get_reader(str(mp4), format="FFMPEG")]  # (list() asks its length)
    assert len(mp4_frames) == STEPS + 1
    assert {f.shape for f in mp4_frames} == {(H, W, 3)}
    gif_frames = iio.mimread(str(gif), format="GIF")
    assert len(gif_frames) == STEPS // 5 + 1
    assert {f.shape[:2] for f in gif_frames} == {(H, W)}
    # Not a blank frame: the scene has a sky, a floor and the hopper.
    assert mp4_frames[-1].std() > 10


def test_an_output_name_ending_in_gif_writes_a_gif(run_dir, tmp_path, gl_backend):
    returns, written, _ = video.record(run_dir, [str(tmp_path / "clip.GIF")], width=W, height=H, max_steps=3,
                                       progress=False)
    assert written == {str(tmp_path / "clip.GIF"): (1, 25.0)}
    assert len(iio.mimread(str(tmp_path / "clip.GIF"), format="GIF")) == 1
    assert len(returns) == 1


def test_no_gl_backend_is_one_line_naming_both(clean_gl_env, monkeypatch):
    monkeypatch.setattr(video, "_PROBE", "import sys\nsys.exit('{0}: no context here')\n")
    with pytest.raises(EnvError) as err:
        video.choose_gl_backend()
    message = str(err.value)
    assert "\n" not in message and "egl: egl: no context here" in message and "osmesa: osmesa" in message
    assert "apt-get install" in message


def test_without_imageio_one_line_says_how_to_install_it(run_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "imageio", None)
    monkeypatch.setitem(sys.modules, "imageio.v2", None)
    with pytest.raises(SystemExit) as exit_:
        main(["eval", str(run_dir), "--video", str(tmp_path / "x.mp4")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "pip install 'ppo_ref[video]'" in err and err.count("\n") == 1
    assert not (tmp_path / "x.mp4").exists()


def test_an_existing_file_is_refused_and_left_as_it_was(run_dir, tmp_path, capsys):
    kept = tmp_path / "kept.mp4"
    kept.write_bytes(b"an earlier video")
    with pytest.raises(SystemExit) as exit_:
        main(["eval", str(run_dir), "--video", str(kept), "--max-steps", "3", "--no-progress"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"{kept} exists already" in err and err.count("\n") == 1
    assert kept.read_bytes() == b"an earlier video"
    assert os.listdir(tmp_path) == ["kept.mp4"]


def test_video_and_gif_into_one_file_is_refused(run_dir, tmp_path, capsys):
    same = tmp_path / "clip.gif"
    with pytest.raises(SystemExit) as exit_:
        main(["eval", str(run_dir), "--video", str(same), "--gif", str(same), "--max-steps", "3"])
    assert exit_.value.code == 2
    assert f"--video and --gif both name {same}" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_an_output_that_cannot_be_created_is_named_and_nothing_is_left(run_dir, tmp_path, gl_backend, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    mp4 = tmp_path / "first.mp4"
    with pytest.raises(SystemExit) as exit_:
        main(["eval", str(run_dir), "--video", str(mp4), "--gif", str(blocker / "clip.gif"), "--width", str(W),
              "--height", str(H), "--max-steps", "3", "--no-progress"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert str(blocker / "clip.gif") in err and ".tmp-" not in err and err.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == ["a-file"]  # nor the MP4 begun before


def test_a_recording_that_fails_leaves_no_file(run_dir, tmp_path, gl_backend, monkeypatch):
    calls = []

    def render(env, backend):
        calls.append(1)
        if len(calls) == 3:
            raise EnvError("rendering with MUJOCO_GL=egl failed: the context was lost")
        return env.render()

    monkeypatch.setattr(video, "_render", render)
    with pytest.raises(EnvError, match="context was lost"):
        video.record(run_dir, [str(tmp_path / "clip.mp4"), str(tmp_path / "clip.gif")], width=W, height=H,
                     max_steps=STEPS, progress=False)
    assert os.listdir(tmp_path) == []


def test_an_encoder_that_writes_nothing_is_an_error_not_a_video(run_dir, tmp_path, gl_backend, monkeypatch,
                                                                capsys):
    class Silent:  # as the ffmpeg writer behaves when ffmpeg cannot open its output: no exception, no bytes
        def __init__(self, *args, **kwargs):
            pass

        def append_data(self, frame):
            pass

        def close(self):
            pass

    monkeypatch.setattr(iio, "get_writer", Silent)
    mp4 = tmp_path / "clip.mp4"
    with pytest.raises(SystemExit) as exit_:
        main(["eval", str(run_dir), "--video", str(mp4), "--width", str(W), "--height", str(H), "--max-steps", "3",
              "--no-progress"])
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert f"writing {mp4} failed" in captured.err and "wrote" not in captured.out
    assert os.listdir(tmp_path) == []


def test_an_env_that_is_not_mujoco_is_one_line(tmp_path_factory, tmp_path, gl_backend, capsys):
    pendulum = tmp_path_factory.mktemp("video") / "pendulum"
    train_tiny(pendulum, "Pendulum-v1")
    with pytest.raises(SystemExit) as exit_:
        main(["eval", str(pendulum), "--video", str(tmp_path / "clip.mp4"), "--max-steps", "3"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "cannot render Pendulum-v1" in err and "MuJoCo" in err and err.count("\n") == 1
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("args, match", [
    (["--gif", "clip.mp4"], "must name a .gif file"),
    (["--max-steps", "5"], "needs --video or --gif"),
    (["--video", "x.mp4", "--max-steps", "0"], "must be a positive integer"),
])
def test_bad_video_flags_are_one_line_errors(run_dir, args, match, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["eval", str(run_dir), *args])
    assert exit_.value.code == 2
    assert match in capsys.readouterr().err
