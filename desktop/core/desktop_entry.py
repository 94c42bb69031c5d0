"""Adds ArenaDesk to a Linux desktop's application launcher for the current user
(`arenadesk --install-desktop-entry`) and takes it out again.

What it writes, under $XDG_DATA_HOME (default ~/.local/share):

    applications/<APP_ID>.desktop                   the launcher entry, Exec = this install
    icons/hicolor/scalable/apps/<APP_ID>.svg        the icon, plus PNGs 16 .. 512
    icons/hicolor/<N>x<N>/apps/<APP_ID>.png
    metainfo/<APP_ID>.metainfo.xml                  AppStream description

The entry's Exec is an absolute path, because launchers do not always have
~/.local/bin (where pipx links its commands) on their PATH: the frozen binary,
the AppImage, the `arenadesk` script of the virtual environment this Python
runs in (pipx's or any other), or, failing those, `<python> -m desktop`.

No Qt in here; the functions return lines for the command line to print.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .paths import APP_ID, APP_NAME
from .resources import resource

DESKTOP_FILE = f"{APP_ID}.desktop"
METAINFO_FILE = f"{APP_ID}.metainfo.xml"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def data_home() -> Path:
    value = os.environ.get("XDG_DATA_HOME", "")
    # The spec says a relative value is invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / ".local" / "share"


def installed_files(base: Path | None = None) -> list[Path]:
    """Every file install() writes (uninstall() removes exactly these)."""
    base = data_home() if base is None else base
    hicolor = base / "icons" / "hicolor"
    return (
        [base / "applications" / DESKTOP_FILE, hicolor / "scalable" / "apps" / f"{APP_ID}.svg"]
        + [hicolor / f"{s}x{s}" / "apps" / f"{APP_ID}.png" for s in PNG_SIZES]
        + [base / "metainfo" / METAINFO_FILE]
    )


def launch_command() -> list[str]:
    """The argv that starts this installation of ArenaDesk, absolute paths only."""
    appimage = os.environ.get("APPIMAGE")
    if appimage and os.path.isfile(appimage):
        return [appimage]
    if getattr(sys, "frozen", False):
        return [os.path.abspath(sys.executable)]
    # Do not resolve symlinks: a venv's python is a link to the base interpreter.
    bindir = Path(os.path.abspath(sys.executable)).parent
    for name in ("arenadesk", "arenadesk.exe"):
        script = bindir / name
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script)]
    found = shutil.which("arenadesk")
    if found:
        return [os.path.abspath(found)]
    return [os.path.abspath(sys.executable), "-m", "desktop"]


_RESERVED = set(' \t\n"\'\\><~|&;$*?#()`')


def quote_exec_arg(arg: str) -> str:
    """Quote one argument of an Exec key (Desktop Entry spec, "The Exec key")."""
    if "%" in arg:
        arg = arg.replace("%", "%%")
    if arg and not (_RESERVED & set(arg)):
        return arg
    inner = arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
    quoted = f'"{inner}"'
    # The value is also a desktop-file string, where a backslash itself is escaped.
    return quoted.replace("\\", "\\\\")


def exec_line(argv: list[str]) -> str:
    return " ".join(quote_exec_arg(a) for a in argv)


def render_desktop_file(argv: list[str] | None = None) -> str:
    """The shipped .desktop file with Exec/TryExec pointing at this install."""
    argv = launch_command() if argv is None else argv
    template = resource(DESKTOP_FILE).read_text(encoding="utf-8")
    out = []
    for line in template.splitlines():
        if line.startswith("Exec="):
            line = "Exec=" + exec_line(argv)
        elif line.startswith("TryExec="):
            # TryExec takes a program, not a command line; only set it when argv is one program.
            if len(argv) != 1:
                continue
            line = "TryExec=" + argv[0].replace("\\", "\\\\")
        out.append(line)
    return "\n".join(out) + "\n"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _refresh_caches(base: Path) -> list[str]:
    """Tell the desktop about the change. The tools are optional: missing ones are skipped.

    The icon cache is only refreshed when the user already has one: without a
    cache GTK reads the folders directly, and a cache created here could go
    stale when another program adds icons without refreshing it.
    """
    notes = []
    hicolor = base / "icons" / "hicolor"
    jobs = [("update-desktop-database", ["-q", str(base / "applications")])]
    if (hicolor / "icon-theme.cache").is_file():
        jobs.append(("gtk-update-icon-cache", ["-f", "-t", "-q", str(hicolor)]))
    for tool, args in jobs:
        exe = shutil.which(tool)
        target = Path(args[-1])
        if not exe or not target.is_dir():
            continue
        try:
            done = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            notes.append(f"note: {tool} did not run ({exc})")
            continue
        if done.returncode != 0:
            msg = (done.stderr or done.stdout).strip().splitlines()
            notes.append(f"note: {tool} exited {done.returncode}" + (f": {msg[-1]}" if msg else ""))
    return notes


def _not_linux() -> list[str] | None:
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        return None
    return [
        "The launcher entry is for Linux desktops (freedesktop.org).",
        "On Windows and macOS use the packaged build (see the README), which carries its own icon.",
    ]


def install() -> list[str]:
    """Write the launcher entry, icons and metainfo for this user; returns what was done."""
    other = _not_linux()
    if other:
        return other
    base = data_home()
    argv = launch_command()
    files = installed_files(base)
    desktop_path, svg_path, *png_paths, metainfo_path = files
    _write(desktop_path, render_desktop_file(argv).encode("utf-8"))
    _write(svg_path, resource("icons", f"{APP_ID}.svg").read_bytes())
    for size, path in zip(PNG_SIZES, png_paths):
        _write(path, resource("icons", "hicolor", f"{size}x{size}", "apps", f"{APP_ID}.png").read_bytes())
    _write(metainfo_path, resource(METAINFO_FILE).read_bytes())
    lines = [
        f"Installed the {APP_NAME} launcher entry: {desktop_path}",
        f"  starts: {exec_line(argv)}",
        f"  icons: {svg_path.parent.parent.parent} (scalable and {len(PNG_SIZES)} PNG sizes)",
        f"  metainfo: {metainfo_path}",
    ]
    lines += _refresh_caches(base)
    lines.append(f"{APP_NAME} should now appear in your application launcher "
                 "(log out and back in if it does not).")
    lines.append("Remove it with: arenadesk --uninstall-desktop-entry")
    return lines


def uninstall() -> list[str]:
    """Remove what install() wrote; returns what was done."""
    other = _not_linux()
    if other:
        return other
    base = data_home()
    removed = []
    for path in installed_files(base):
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            pass
    if not removed:
        return [f"No {APP_NAME} launcher entry was installed under {base}; nothing to remove."]
    lines = [f"Removed the {APP_NAME} launcher entry: {len(removed)} files under {base}"]
    lines += [f"  {p}" for p in removed]
    lines += _refresh_caches(base)
    return lines
