#!/usr/bin/env bash
# Installs ArenaDesk into ./.venv (or $ARENADESK_VENV) from this checkout.
#
#   packaging/install.sh           the app
#   packaging/install.sh --test    the app plus the test tools
#
# llama-cpp-python is source-only on PyPI and is compiled here. Its default
# build tunes for the building CPU ("GGML_NATIVE"), and on CPUs that advertise
# AVX-512/AMX that build has been seen to segfault inside llama.cpp's kernels.
# So this script owns the flags: a portable AVX2 build by default, cached as a
# wheel keyed by the flags so a rebuild happens only when they change.
# To build for your own hardware set LLAMA_CMAKE_ARGS, e.g.
#   LLAMA_CMAKE_ARGS="-DGGML_CUDA=on"    NVIDIA GPU (CUDA toolkit needed)
#   LLAMA_CMAKE_ARGS="-DGGML_METAL=on"   Apple silicon
#   LLAMA_CMAKE_ARGS="-DGGML_VULKAN=on"  any Vulkan GPU (Vulkan SDK needed)
#   LLAMA_CMAKE_ARGS="-DGGML_NATIVE=ON"  tuned for this CPU
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test,package]"  # the tests build the standalone app too

venv="${ARENADESK_VENV:-.venv}"
python="${PYTHON:-python3}"

# Qt's runtime libraries on a bare Debian/Ubuntu (servers, CI, containers).
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need="libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0 \
        libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 \
        libxcb-render-util0 libxcb-image0 libxcb-xkb1"
  [ -n "$extras" ] && need="$need xvfb appstream desktop-file-utils curl"
  missing=""
  for p in $need; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    echo "== installing system libraries:$missing"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
fi

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip="$venv/bin/python -m pip"
$pip install -q --upgrade pip wheel

llama_version="0.3.36"
flags="${LLAMA_CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
key=$(printf '%s %s' "$llama_version" "$flags" | sha256sum | cut -c1-12)
wheelhouse="${XDG_CACHE_HOME:-$HOME/.cache}/arenadesk/llama-wheels/$key"
if ! ls "$wheelhouse"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "== building llama-cpp-python $llama_version with: $flags (about 5 minutes, once)"
  mkdir -p "$wheelhouse"
  CMAKE_ARGS="$flags" $pip wheel -q --no-deps --no-cache-dir -w "$wheelhouse" "llama-cpp-python==$llama_version"
fi
$pip install -q "$wheelhouse"/llama_cpp_python-*.whl
echo "== installing ArenaDesk$extras"
$pip install -q -e ".$extras"
if [ -n "$extras" ]; then
  echo "== fetching the tests' chat model (SmolLM2-135M-Instruct, 98 MB, once)"
  "$venv/bin/python" tests/chat_model.py
fi
echo "== done: $venv/bin/arenadesk"
