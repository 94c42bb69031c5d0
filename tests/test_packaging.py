"""Installing ArenaDesk as a desktop application (issue 6).

- the command line answers --version and --help;
- the shipped .desktop and AppStream files pass desktop-file-validate and
  `appstreamcli validate`;
- --install-desktop-entry writes a valid launcher entry, icons and metainfo under
  XDG_DATA_HOME, whose Exec really starts this install; --uninstall-desktop-entry
  removes them;
- a wheel (what `pip install .` and `pipx install .` install) carries resources/
  as desktop.resources and every package under desktop/;
- the About dialog shows the version, folders and build, and opens the data folder;
- (slow) packaging/build.sh builds the standalone app, and the frozen binary's
  --self-check answers a prompt with the built-in model, offscreen.

The validators are Debian's `desktop-file-utils` and `appstream` (packaging/install.sh
--test installs them); a missing one fails the test rather than skipping it.
"""
from __future__ import annotations

import os
import shlex
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from desktop import __version__
from desktop.core.paths import APP_ID

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "resources"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed: install Debian's {package} "
                    f"(apt-get install {package}; packaging/install.sh --test does it as root)")
    return path


def arenadesk_command() -> list[str]:
    """The installed `arenadesk` command of the environment running the tests."""
    script = Path(sys.executable).parent / "arenadesk"
    assert script.is_file(), f"no arenadesk command beside {sys.executable}: install the project (packaging/install.sh)"
    return [str(script)]


def run(argv: list[str], env: dict | None = None, timeout: float = 120, cwd: Path | None = None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd)


def desktop_file_validate(path: Path) -> None:
    exe = tool("desktop-file-validate", "desktop-file-utils")
    done = run([exe, str(path)])
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "error:" not in out and "warning:" not in out, f"{path}:\n{out}"


def appstream_validate(*args: str) -> None:
    exe = tool("appstreamcli", "appstream")
    done = run([exe, *args])
    out = done.stdout + done.stderr
    problems = [line for line in out.splitlines() if line.strip()[:2] in ("E:", "W:")]
    assert done.returncode == 0 and not problems, f"appstreamcli {' '.join(args)}:\n{out}"


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


# -- the command line --------------------------------------------------------------------

def test_version_and_help_exit_zero():
    done = run(arenadesk_command() + ["--version"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"ArenaDesk {__version__}"

    done = run(arenadesk_command() + ["--help"])
    assert done.returncode == 0, done.stderr
    for flag in ("--version", "--self-check", "--install-desktop-entry", "--uninstall-desktop-entry"):
        assert flag in done.stdout

    done = run([sys.executable, "-m", "desktop", "--version"], cwd=ROOT)
    assert done.returncode == 0 and __version__ in done.stdout, done.stderr


# -- the shipped files ---------------------------------------------------------------------

def test_shipped_desktop_file_is_valid():
    desktop_file_validate(RESOURCES / f"{APP_ID}.desktop")


def test_shipped_metainfo_is_valid():
    appstream_validate("validate", "--no-net", str(RESOURCES / f"{APP_ID}.metainfo.xml"))


def test_shipped_icons_have_every_size():
    svg = RESOURCES / "icons" / f"{APP_ID}.svg"
    assert svg.is_file() and b"<svg" in svg.read_bytes()[:400]
    for size in PNG_SIZES:
        png = RESOURCES / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        assert png.is_file(), f"missing {png}: run packaging/render_icons.py"
        assert png_size(png) == (size, size)
    # what the PyInstaller spec uses on Windows and macOS
    assert (RESOURCES / "icons" / f"{APP_ID}.ico").read_bytes()[:4] == b"\0\0\1\0"
    assert (RESOURCES / "icons" / f"{APP_ID}.icns").read_bytes()[:4] == b"icns"


# -- the launcher entry --------------------------------------------------------------------

def installed_paths(share: Path) -> list[Path]:
    hicolor = share / "icons" / "hicolor"
    return (
        [share / "applications" / f"{APP_ID}.desktop", hicolor / "scalable" / "apps" / f"{APP_ID}.svg"]
        + [hicolor / f"{s}x{s}" / "apps" / f"{APP_ID}.png" for s in PNG_SIZES]
        + [share / "metainfo" / f"{APP_ID}.metainfo.xml"]
    )


def desktop_entry_values(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values[key] = value
    return values


def test_install_and_uninstall_desktop_entry(tmp_path):
    root = tmp_path / "root"
    share = root / "usr" / "share"  # a prefix layout, so appstreamcli validate-tree can check it whole
    env = {"XDG_DATA_HOME": str(share)}

    done = run(arenadesk_command() + ["--install-desktop-entry"], env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Installed the ArenaDesk launcher entry" in done.stdout
    for path in installed_paths(share):
        assert path.is_file(), f"--install-desktop-entry did not write {path}\n{done.stdout}"
    for size in PNG_SIZES:
        assert png_size(share / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png") == (size, size)

    entry = share / "applications" / f"{APP_ID}.desktop"
    desktop_file_validate(entry)
    values = desktop_entry_values(entry)
    assert values["Icon"] == APP_ID and values["Type"] == "Application"
    argv = shlex.split(values["Exec"])
    assert Path(argv[0]).is_absolute() and os.access(argv[0], os.X_OK), values["Exec"]
    # The launcher's command really starts this installation.
    started = run(argv + ["--version"])
    assert started.returncode == 0 and __version__ in started.stdout, started.stderr
    # The metainfo's launchable, the .desktop file and the icon agree.
    appstream_validate("validate-tree", "--no-net", str(root))

    done = run(arenadesk_command() + ["--uninstall-desktop-entry"], env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    left = [p for p in installed_paths(share) if p.exists()]
    assert not left, f"--uninstall-desktop-entry left {left}"
    done = run(arenadesk_command() + ["--uninstall-desktop-entry"], env=env)
    assert done.returncode == 0 and "nothing to remove" in done.stdout


def test_desktop_entry_exec_quoting():
    from desktop.core.desktop_entry import exec_line

    assert exec_line(["/usr/bin/arenadesk"]) == "/usr/bin/arenadesk"
    assert exec_line(["/opt/My Apps/bin/python", "-m", "desktop"]) == '"/opt/My Apps/bin/python" -m desktop'
    assert exec_line(['/a"b$c\\d%e']) == '"/a\\\\"b\\\\$c\\\\\\\\d%%e"'


# -- the wheel -----------------------------------------------------------------------------

def test_wheel_carries_resources_and_every_package(tmp_path):
    """What `pip install .` / `pipx install .` install: built as a wheel, unpacked, imported."""
    wheels = tmp_path / "wheels"
    done = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)], timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = wheels.glob("arenadesk-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    for rel in ("prices.json", f"{APP_ID}.desktop", f"{APP_ID}.metainfo.xml", f"icons/{APP_ID}.svg",
                f"icons/hicolor/512x512/apps/{APP_ID}.png"):
        assert f"desktop/resources/{rel}" in names, f"the wheel lacks resources/{rel}"
    shipped_resources = {n.removeprefix("desktop/resources/") for n in names if n.startswith("desktop/resources/")}
    in_repo = {p.relative_to(RESOURCES).as_posix() for p in RESOURCES.rglob("*") if p.is_file()}
    missing = sorted(in_repo - shipped_resources)
    assert not missing, f"resources missing from the wheel: {missing}"

    missing_packages = []
    for init in sorted((ROOT / "desktop").rglob("__init__.py")):
        rel = init.relative_to(ROOT).as_posix()
        if rel not in names:
            missing_packages.append(".".join(init.parent.relative_to(ROOT).parts))
    assert not missing_packages, (
        f"packages left out of the wheel: {missing_packages}; add them to [tool.setuptools] packages in pyproject.toml"
    )

    # Unpacked, the wheel is the installed layout: resources are found there.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import desktop, desktop.core.resources as r; "
        "print(desktop.__file__); print(r.resources_dir()); print(r.resource('prices.json').is_file())"
    )
    done = run([sys.executable, "-c", probe], env={"PYTHONPATH": str(site)}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    module_file, resources_dir, found = done.stdout.split()
    assert Path(module_file).is_relative_to(site), "the probe imported the checkout, not the wheel"
    assert Path(resources_dir) == site / "desktop" / "resources" and found == "True"


# -- the About dialog ------------------------------------------------------------------------

def test_about_dialog_shows_version_folders_and_opens_data_folder(qtbot, arenadesk_home):
    from PySide6.QtCore import QObject, QUrl, Slot
    from PySide6.QtGui import QDesktopServices
    from PySide6.QtWidgets import QLabel

    from desktop.core.services import Services
    from desktop.ui.about import AboutDialog

    services = Services.open()
    try:
        dialog = AboutDialog(services)
        qtbot.addWidget(dialog)
        dialog.show()
        texts = [label.text() for label in dialog.findChildren(QLabel)]
        assert any(__version__ in t for t in texts)
        for folder in services.folders.all():
            assert str(folder) in texts, f"the dialog does not show {folder}"
        assert dialog.facts["GPU offload"]
        assert dialog.facts["Keychain"]
        assert dialog.facts["llama.cpp"].startswith("llama-cpp-python")
        details = dialog.details_text()
        assert f"ArenaDesk {__version__}" in details and str(services.folders.data) in details

        class Catcher(QObject):
            def __init__(self):
                super().__init__()
                self.urls: list[QUrl] = []

            @Slot(QUrl)
            def open(self, url):
                self.urls.append(url)

        catcher = Catcher()
        QDesktopServices.setUrlHandler("file", catcher, "open")
        try:
            dialog.open_data_button.click()
        finally:
            QDesktopServices.unsetUrlHandler("file")
        assert [Path(u.toLocalFile()) for u in catcher.urls] == [services.folders.data]
    finally:
        services.close()


# -- the standalone build ----------------------------------------------------------------------

@pytest.mark.slow
def test_frozen_build_self_check(tmp_path):
    """packaging/build.sh, then the frozen binary: --version, --self-check offscreen, launcher entry."""
    dist = tmp_path / "dist"
    env = {"ARENADESK_DIST": str(dist), "ARENADESK_WORK": str(tmp_path / "work"),
           "ARENADESK_VENV": str(Path(sys.executable).parent.parent)}
    done = run(["bash", str(ROOT / "packaging" / "build.sh")], env=env, timeout=420, cwd=ROOT)
    assert done.returncode == 0, f"build.sh failed:\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
    exe = dist / "ArenaDesk" / "ArenaDesk"
    assert exe.is_file() and os.access(exe, os.X_OK)

    clean_env = {"QT_QPA_PLATFORM": "offscreen", "ARENADESK_HOME": str(tmp_path / "home")}
    done = run([str(exe), "--version"], env=clean_env, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"ArenaDesk {__version__}", done.stderr

    done = run([str(exe), "--self-check"], env=clean_env, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "self-check: ok" in done.stdout, out

    # The frozen app installs a launcher entry that points at itself.
    share = tmp_path / "share"
    done = run([str(exe), "--install-desktop-entry"], env={**clean_env, "XDG_DATA_HOME": str(share)}, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    entry = share / "applications" / f"{APP_ID}.desktop"
    desktop_file_validate(entry)
    assert shlex.split(desktop_entry_values(entry)["Exec"]) == [str(exe)]
    assert (share / "icons" / "hicolor" / "256x256" / "apps" / f"{APP_ID}.png").is_file()
