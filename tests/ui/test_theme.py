"""Light and dark follow the setting even where no platform theme reports a scheme."""
import json
import os
import subprocess
import sys
from pathlib import Path

from desktop.ui.theme import apply_theme

ROOT = Path(__file__).resolve().parents[2]


def test_dark_and_light_palettes(qapp):
    apply_theme(qapp, "dark")
    assert qapp.palette().window().color().lightness() < 80
    assert qapp.palette().text().color().lightness() > 180
    apply_theme(qapp, "light")
    assert qapp.palette().window().color().lightness() > 180
    apply_theme(qapp, "system")  # offscreen reports no scheme: light
    assert qapp.palette().window().color().lightness() > 180


def _colours(view):
    """(text, foreground name) of each coloured run, and the background of code blocks, as drawn."""
    from PySide6.QtGui import QTextFormat

    runs, code = [], set()
    b = view.document().begin()
    while b.isValid():
        if b.blockFormat().nonBreakableLines():
            code.add(b.blockFormat().background().color().name())
        it = b.begin()
        while not it.atEnd():
            f = it.fragment()
            if f.charFormat().hasProperty(QTextFormat.ForegroundBrush):
                runs.append((f.text(), f.charFormat().foreground().color().name()))
            it += 1
        b = b.next()
    return dict(runs), code


def _pixels(view) -> set[str]:
    image = view.viewport().grab().toImage()
    return {image.pixelColor(x, y).name() for x in range(0, image.width(), 3) for y in range(0, image.height(), 3)}


def test_a_theme_change_recolours_answers_already_on_screen(qtbot, qapp):
    """Dark after light (and back): the "You" heading, code blocks' shade, links, notes and the
    reasoning line of answers written before the switch take the new scheme's colours at once."""
    from desktop.ui.transcript import Transcript

    apply_theme(qapp, "light")
    view = Transcript()
    qtbot.addWidget(view)
    view.resize(600, 500)
    view.show()
    view.add_prompt("Show me code.")
    view.begin_answer("Model")
    view.extend_reasoning("I will write a loop.", 5)
    view.end_answer("Here, see [the docs](https://example.com):\n\n```python\nfor i in range(3):\n    print(i)\n```\n",
                    "Stopped.", reasoning="I will write a loop.")
    qtbot.wait(50)
    light_runs, light_code = _colours(view)
    light_pixels = _pixels(view)
    assert light_code and light_code <= light_pixels  # the code block's shade is on screen

    apply_theme(qapp, "dark")
    try:
        qtbot.wait(50)
        runs, code = _colours(view)
        pixels = _pixels(view)
        for text in ("You", "the docs", "Stopped.", "▸ Reasoning (5 words) — click to show"):
            assert runs[text] != light_runs[text], text
            assert _lightness(runs[text]) > 128, (text, runs[text])  # readable on the dark page
        assert code and code.isdisjoint(light_code) and code <= pixels
        assert light_code.isdisjoint(pixels)  # no light shade left on screen
        view.toggle_reasoning()  # opened after the switch: the text is in the dark scheme's colour
        assert _lightness(_colours(view)[0]["I will write a loop."]) > 128
    finally:
        apply_theme(qapp, "light")
    qtbot.wait(50)
    assert _colours(view)[0]["You"] == light_runs["You"] and _colours(view)[1] == light_code


def _lightness(name: str) -> int:
    from PySide6.QtGui import QColor

    return QColor(name).lightness()


DESKTOP_SCHEME = r"""
import json, sys
import PySide6.QtCore as QtCore
import desktop.app as app_module
from desktop.ui.theme import apply_theme

app = app_module.make_app()
seen = []
for theme in sys.argv[1:]:
    apply_theme(app, theme)
    seen.append([theme, app.palette().window().color().lightness(), "Qt" in QtCore.__dict__])
print(json.dumps(seen))
"""


def test_system_follows_a_dark_desktop_without_building_qts_enums(tmp_path):
    """A KDE desktop with a dark colour scheme (Qt's KDE platform theme reads kdeglobals; it runs
    under X11, so under Xvfb here): "system" is dark from the start, read without PySide6's `Qt`
    namespace (whose first use builds all its enums, about 0.1 s of the start); the choices still
    apply over the desktop's scheme, and "system" goes back to it."""
    import shutil

    import pytest

    if not shutil.which("Xvfb"):
        pytest.skip("needs Xvfb (Debian's xvfb): Qt's desktop themes run under X11, not offscreen")
    config = tmp_path / "config"
    config.mkdir()
    (config / "kdeglobals").write_text(
        "[General]\nColorScheme=BreezeDark\n"
        + "".join(f"[Colors:{group}]\nBackgroundNormal={bg}\nForegroundNormal=252,252,252\n"
                  for group, bg in (("Window", "32,35,38"), ("View", "20,22,24"), ("Button", "41,44,48"))))
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "640x480x24"], pass_fds=(write,),
                            stderr=subprocess.DEVNULL)
    try:
        os.close(write)
        display = os.read(read, 16).decode().strip()
        env = dict(os.environ, DISPLAY=f":{display}", QT_QPA_PLATFORM="xcb", XDG_CONFIG_HOME=str(config),
                   XDG_CURRENT_DESKTOP="KDE", KDE_SESSION_VERSION="5",
                   PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        out = subprocess.run([sys.executable, "-c", DESKTOP_SCHEME, "system", "light", "dark", "system"], env=env,
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        xvfb.terminate()
        xvfb.wait()
        os.close(read)
    assert out.returncode == 0, out.stderr[-3000:]
    (system, dark_window, qt_built), light, dark, system_again = json.loads(out.stdout.strip().splitlines()[-1])
    assert dark_window < 80 and qt_built is False
    assert light[1] > 180 and dark[1] < 80 and system_again[1] < 80
