"""The entry point: sub-commands go headless, the GUI path checks the display first."""

import os
import subprocess
import sys
from pathlib import Path


from fcn_studio.gui import display_check

REPO = Path(__file__).resolve().parent.parent


def run(args, env=None, timeout=120):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "fcn_studio", *args], capture_output=True, text=True, env=e, cwd=REPO, timeout=timeout)


def test_no_display_gives_a_clear_message_not_an_abort():
    env = {k: "" for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    out = run(["--quit-after", "10"], env=env)
    assert out.returncode == 3
    assert "no display" in out.stderr and "QT_QPA_PLATFORM=offscreen" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_xcb_library_names_the_debian_package(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(display_check, "missing_xcb_libraries", lambda: ["libxcb-cursor.so.0", "libxcb-icccm.so.4"])
    problem = display_check.display_problem()
    assert "apt-get install libxcb-cursor0 libxcb-icccm4" in problem


def test_packages_for_known_and_unknown_libraries():
    assert display_check.packages_for(["libxkbcommon-x11.so.0", "libEGL.so.1"]) == ["libegl1", "libxkbcommon-x11-0"]
    assert display_check.packages_for(["libweird.so.3"]) == ["(the package providing libweird.so.3)"]


def test_window_opens_on_the_demo_and_quits(tmp_path):
    shot = tmp_path / "shot.png"
    env = {"QT_QPA_PLATFORM": "offscreen", "FCN_STUDIO_SETTINGS": str(tmp_path / "s.ini")}
    out = run(["--demo", str(tmp_path / "demo"), "--screenshot", str(shot)], env=env)
    assert out.returncode == 0, out.stderr
    from PIL import Image

    with Image.open(shot) as im:
        assert im.width >= 600 and im.height >= 400
        # not a blank grab: the image and panels put many colours on screen
        assert len(im.convert("RGB").getcolors(1 << 20) or []) > 200
    assert (tmp_path / "demo" / "project.json").exists()


def test_cli_errors_are_one_line_and_non_zero(tmp_path):
    out = run(["info", str(tmp_path / "nothing")])
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "not an fcn-studio project" in out.stderr


def test_cli_demo_info_export(tmp_path):
    assert run(["demo", str(tmp_path / "d"), "--images", "3", "--labelled", "2"]).returncode == 0
    info = run(["info", str(tmp_path / "d")])
    assert '"painted_images": 2' in info.stdout
    out = run(["export", "--project", str(tmp_path / "d"), "--out", str(tmp_path / "o"), "--format", "index", "coco"])
    assert out.returncode == 0, out.stderr
    assert len(list((tmp_path / "o" / "index").glob("*.png"))) == 2 and (tmp_path / "o" / "coco.json").exists()


def test_self_test_passes():
    out = run(["--self-test"], env={"QT_QPA_PLATFORM": "offscreen"}, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all checks passed" in out.stdout


def test_bad_arguments_are_one_line_too():
    out = run(["export", "--format", "nonsense"])
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "invalid choice" in out.stderr
