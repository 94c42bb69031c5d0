#!/usr/bin/env bash
# Builds the standalone app (PyInstaller, one folder) into dist/ArenaDesk/
# (and dist/ArenaDesk.app on macOS). Linux and macOS; on Windows run PyInstaller
# on packaging/arenadesk.spec directly (see the README).
#
#   packaging/build.sh            build (reuses PyInstaller's cache in build/pyinstaller)
#   packaging/build.sh --clean    build from scratch
#
# Uses the project's virtual environment (./.venv or $ARENADESK_VENV, made by
# packaging/install.sh), so the bundled llama.cpp is the one built there with its
# flags. Installs PyInstaller from the project's `package` extra when missing.
# Run it: dist/ArenaDesk/ArenaDesk   (dist/ArenaDesk/ArenaDesk --self-check to test)
# ARENADESK_DIST and ARENADESK_WORK move the output (dist) and work (build/pyinstaller)
# folders, e.g. for tests that must not touch the checkout's dist/.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${ARENADESK_VENV:-.venv}"
py="$venv/bin/python"
[ -x "$py" ] || py="$venv/Scripts/python.exe"  # Git Bash on Windows
if [ ! -x "$py" ]; then
  echo "build.sh: no virtual environment at $venv; run packaging/install.sh first" >&2
  exit 1
fi
"$py" -c "import llama_cpp, PySide6, desktop" || {
  echo "build.sh: $venv lacks the app's dependencies; run packaging/install.sh first" >&2
  exit 1
}

if ! "$py" -c "import PyInstaller" 2>/dev/null; then
  # the `package` extra of pyproject.toml (tomllib is Python 3.11+; a plain parse before that)
  reqs=()
  while IFS= read -r req; do reqs+=("$req"); done < <("$py" - <<'PY'
import re
text = open("pyproject.toml", encoding="utf-8").read()
try:
    import tomllib
    reqs = tomllib.loads(text)["project"]["optional-dependencies"]["package"]
except ModuleNotFoundError:
    reqs = re.findall(r'"([^"]+)"', re.search(r"^package\s*=\s*\[(.*?)\]", text, re.M | re.S).group(1))
print("\n".join(reqs))
PY
)
  echo "== installing ${reqs[*]}"
  "$py" -m pip install -q "${reqs[@]}"
fi

dist="${ARENADESK_DIST:-dist}"
work="${ARENADESK_WORK:-build/pyinstaller}"
clean=()
[ "${1:-}" = "--clean" ] && clean=(--clean)

start=$(date +%s)
echo "== building $dist/ArenaDesk with PyInstaller $("$py" -c 'import PyInstaller; print(PyInstaller.__version__)')"
rm -rf "$dist/ArenaDesk" "$dist/ArenaDesk.app"
"$py" -m PyInstaller --noconfirm --log-level WARN ${clean[@]+"${clean[@]}"} \
  --distpath "$dist" --workpath "$work" packaging/arenadesk.spec
exe="$dist/ArenaDesk/ArenaDesk"
[ -e "$exe" ] || exe="$dist/ArenaDesk/ArenaDesk.exe"
[ -e "$exe" ] || { echo "build.sh: PyInstaller produced no $exe" >&2; exit 1; }
echo "== built $exe in $(( $(date +%s) - start )) s; $(du -sh "$dist/ArenaDesk" | cut -f1) on disk"
echo "   try: $exe --self-check"
