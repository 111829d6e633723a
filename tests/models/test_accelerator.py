"""What the panel, About and selftest say about the llama.cpp backend, and which backend an installed
llama-cpp-python was built with, read from its library files (real folders, one per build shape).

GPU builds cannot be made on CI (no GPU, no SDK), so their reports are built here as the engine would
send them; the CPU build's report through the real engine is in tests/engines/test_engine_accelerator.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.models.accelerator import Accelerator, installed_backend

RTX = Accelerator(backend="CUDA", device="NVIDIA GeForce RTX 4070", vram_mb=12_282, gpu_count=1,
                  offloaded_layers=29, total_layers=29)


def test_each_build_shape_says_what_runs_and_how_many_layers() -> None:
    cpu = Accelerator(total_layers=25)
    assert cpu.describe() == "GPU: none (CPU build of llama.cpp), 0/25 layers offloaded"
    assert RTX.describe() == "CUDA: NVIDIA GeForce RTX 4070, 12 GB, 29/29 layers offloaded"
    partial = Accelerator(backend="Vulkan", device="AMD Radeon RX 7800 XT", vram_mb=16_368, gpu_count=2,
                          offloaded_layers=10, total_layers=29)
    assert partial.describe() == "Vulkan: AMD Radeon RX 7800 XT, 16 GB, 2 GPUs, 10/29 layers offloaded"
    small = Accelerator(backend="Metal", device="Apple M1", vram_mb=768, offloaded_layers=3, total_layers=3)
    assert small.describe() == "Metal: Apple M1, 768 MB, 3/3 layers offloaded"
    no_device = Accelerator(backend="Vulkan", total_layers=29)  # a GPU build on a machine without its GPU
    assert no_device.describe() == "GPU: none found by the Vulkan build of llama.cpp, 0/29 layers offloaded"
    assert not no_device.gpu and RTX.gpu
    nothing_loaded = Accelerator()
    assert nothing_loaded.describe() == "GPU: none (CPU build of llama.cpp), 0 layers offloaded"


@pytest.mark.parametrize(
    ("files", "backend"),
    [
        (["libllama.so", "libggml.so", "libggml-base.so", "libggml-cpu.so"], "CPU"),
        (["libllama.so", "libggml-cpu.so", "libggml-cuda.so", "libggml-cuda.so.0"], "CUDA"),
        (["libllama.so", "libggml-cpu.so", "libggml-vulkan.so"], "Vulkan"),
        (["libllama.dylib", "libggml-cpu.dylib", "libggml-metal.dylib", "libggml-blas.dylib"], "Metal"),
        (["llama.dll", "ggml-cpu.dll", "ggml-cuda.dll"], "CUDA"),  # Windows names DLLs without "lib"
        (["libggml-hip.so", "libggml-cpu.so"], "ROCm"),
    ],
)
def test_the_installed_build_is_read_from_its_libraries(tmp_path: Path, files: list[str],
                                                        backend: str) -> None:
    for name in files:
        (tmp_path / name).write_bytes(b"\x7fELF")
    assert installed_backend(tmp_path) == backend


def test_no_library_folder_means_not_installed(tmp_path: Path) -> None:
    assert installed_backend(tmp_path / "missing") is None
