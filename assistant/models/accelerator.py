"""What the chat models run on: the llama.cpp build's backend, its GPU and the layers a load offloaded.

The engine process fills an `Accelerator` from llama.cpp's own backend registry
(`engines/llama_build.py`) and sends it with `ModelLoaded` and `ModelBenchmarked`; the first-run
panel, Help ▸ About and `assistant selftest` show `describe()`. `installed_backend` answers the one
question that needs no engine: which backend the installed llama-cpp-python was built with, read from
the libraries in its package folder (llama.cpp builds each backend as its own library:
libggml-cuda, libggml-vulkan, libggml-metal), so the window can say it without importing llama.cpp.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

CPU = "CPU"
# llama.cpp's registry name -> what people call it (Metal registers as "MTL").
BACKEND_NAMES = {"CUDA": "CUDA", "VULKAN": "Vulkan", "MTL": "Metal", "METAL": "Metal", "ROCM": "ROCm",
                 "MUSA": "MUSA", "SYCL": "SYCL", "CANN": "CANN", "OPENCL": "OpenCL"}
# Library file prefix in llama_cpp/lib -> backend; checked in this order.
BACKEND_LIBRARIES = (("libggml-cuda", "CUDA"), ("libggml-hip", "ROCm"), ("libggml-vulkan", "Vulkan"),
                     ("libggml-metal", "Metal"), ("libggml-sycl", "SYCL"), ("libggml-opencl", "OpenCL"))


def backend_name(registry_name: str) -> str:
    return BACKEND_NAMES.get(registry_name.upper(), registry_name)


@dataclass(frozen=True)
class Accelerator:
    """The backend of the engine's llama.cpp build and, after a load, how many layers went to the GPU.

    `device` is empty when the build has no GPU backend or the backend found no device (then every
    layer runs on the CPU whatever was asked)."""

    backend: str = CPU  # "CPU", "CUDA", "Vulkan", "Metal", ...
    device: str = ""  # the GPU llama.cpp offloads to, e.g. "NVIDIA GeForce RTX 4070"
    vram_mb: int | None = None  # that GPU's memory as its backend reports it
    gpu_count: int = 0  # GPU devices the backend found
    offloaded_layers: int = 0  # layers on the GPU at the last load (llama.cpp counts the output layer)
    total_layers: int = 0  # of how many; 0 when nothing was loaded

    @property
    def gpu(self) -> bool:
        return bool(self.device)

    def describe(self) -> str:
        """One line: 'GPU: none (CPU build), 0 layers offloaded' or 'CUDA: NVIDIA …, 12 GB, 29/29 layers'."""
        layers = str(self.offloaded_layers) + (f"/{self.total_layers}" if self.total_layers else "")
        if self.backend == CPU:
            return f"GPU: none (CPU build of llama.cpp), {layers} layers offloaded"
        if not self.device:
            return f"GPU: none found by the {self.backend} build of llama.cpp, {layers} layers offloaded"
        parts = [self.device]
        if self.vram_mb:
            parts.append(f"{self.vram_mb / 1024:.0f} GB" if self.vram_mb >= 1024 else f"{self.vram_mb} MB")
        if self.gpu_count > 1:
            parts.append(f"{self.gpu_count} GPUs")
        parts.append(f"{layers} layers offloaded")
        return f"{self.backend}: " + ", ".join(parts)


def installed_backend(lib_dir: Path | None = None) -> str | None:
    """The backend the installed llama-cpp-python was built with ("CPU", "CUDA", ...), without importing
    it; None when it is not installed. `lib_dir` is the package's `lib` folder (found when None)."""
    if lib_dir is None:
        spec = importlib.util.find_spec("llama_cpp")
        if spec is None or not spec.submodule_search_locations:
            return None
        lib_dir = Path(next(iter(spec.submodule_search_locations))) / "lib"
    try:
        names = [path.name for path in lib_dir.iterdir()]
    except OSError:
        return None
    for prefix, backend in BACKEND_LIBRARIES:
        stems = (prefix + ".", prefix.removeprefix("lib") + ".")  # Windows names its DLLs without "lib"
        if any(name.startswith(stems) for name in names):
            return backend
    return CPU
