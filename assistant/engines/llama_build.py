"""Which backend this llama.cpp build runs on, its GPU, and how many layers a loaded model offloaded.

llama-cpp-python 0.3.36 binds `llama_supports_gpu_offload()` and `llama_print_system_info()` but not
ggml's backend registry, which is the only place that names the GPU and its memory. The registry is
plain exported C API of the libggml the package already loads (`llama_cpp._ggml.libggml`), so it is
called here through ctypes with prototypes of our own (ggml-backend.h of the vendored llama.cpp).

The layer count follows llama.cpp's own rule (llama-model.cpp, the "offloaded N/M layers to GPU" log
line that `verbose=False` hides): with at least one GPU device, min(n_gpu_layers, n_layer + 1) of
n_layer + 1 layers (the output layer counts as one); without a GPU device, none.
"""

from __future__ import annotations

import ctypes
import logging
from functools import cache
from typing import Any

import llama_cpp

from assistant.models.accelerator import CPU, Accelerator, backend_name

logger = logging.getLogger(__name__)

# enum ggml_backend_dev_type
DEVICE_GPU, DEVICE_IGPU = 1, 2
NOT_GPU_BACKENDS = {"CPU", "BLAS", "RPC"}  # registries that never hold the offloaded layers

_p = ctypes.c_void_p


class _Registry:
    """ctypes prototypes for the ggml backend registry functions."""

    def __init__(self, lib: Any) -> None:
        def fn(name: str, restype: Any, *argtypes: Any) -> Any:
            return ctypes.CFUNCTYPE(restype, *argtypes)((name, lib))

        self.reg_count = fn("ggml_backend_reg_count", ctypes.c_size_t)
        self.reg_get = fn("ggml_backend_reg_get", _p, ctypes.c_size_t)
        self.reg_name = fn("ggml_backend_reg_name", ctypes.c_char_p, _p)
        self.dev_count = fn("ggml_backend_dev_count", ctypes.c_size_t)
        self.dev_get = fn("ggml_backend_dev_get", _p, ctypes.c_size_t)
        self.dev_type = fn("ggml_backend_dev_type", ctypes.c_int, _p)
        self.dev_description = fn("ggml_backend_dev_description", ctypes.c_char_p, _p)
        self.dev_reg = fn("ggml_backend_dev_backend_reg", _p, _p)
        self.dev_memory = fn("ggml_backend_dev_memory", None, _p, ctypes.POINTER(ctypes.c_size_t),
                             ctypes.POINTER(ctypes.c_size_t))


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value else ""


@cache
def build_info() -> Accelerator:
    """The build's backend and the GPU llama.cpp would offload to (the first discrete one, else the
    first integrated one, as llama.cpp picks), with no layer counts yet."""
    try:
        from llama_cpp import _ggml  # the package's own handle on libggml (internal, hence the guard)

        registry = _Registry(_ggml.libggml)
    except (ImportError, AttributeError, OSError) as error:  # no registry: say what llama.cpp says
        logger.warning("ggml backend registry not available (%s)", error)
        if llama_cpp.llama_supports_gpu_offload():
            return Accelerator(backend="GPU", device="a GPU llama.cpp did not name", gpu_count=1)
        return Accelerator(backend=CPU)
    names = [_text(registry.reg_name(registry.reg_get(i))) for i in range(registry.reg_count())]
    gpu_backends = [backend_name(name) for name in names if name.upper() not in NOT_GPU_BACKENDS]
    discrete: list[Any] = []
    integrated: list[Any] = []
    for i in range(registry.dev_count()):
        device = registry.dev_get(i)
        kind = registry.dev_type(device)
        if _text(registry.reg_name(registry.dev_reg(device))) == "RPC":
            continue
        if kind == DEVICE_GPU:
            discrete.append(device)
        elif kind == DEVICE_IGPU:
            integrated.append(device)
    gpus = discrete or integrated
    if not gpus:
        return Accelerator(backend=gpu_backends[0] if gpu_backends else CPU)
    device = gpus[0]
    free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
    registry.dev_memory(device, ctypes.byref(free), ctypes.byref(total))
    backend = backend_name(_text(registry.reg_name(registry.dev_reg(device))))
    return Accelerator(backend=backend, device=_text(registry.dev_description(device)),
                       vram_mb=total.value // (1024 * 1024) or None, gpu_count=len(gpus))


def offload_report(llm: llama_cpp.Llama) -> Accelerator:
    """`build_info()` with the layers this loaded model put on the GPU, out of how many."""
    info = build_info()
    total = llama_cpp.llama_model_n_layer(llm.model) + llama_cpp.llama_model_n_layer_nextn(llm.model) + 1
    requested = int(llm.model_params.n_gpu_layers)  # llama-cpp-python passes "all" (-1) as 0x7FFFFFFF
    offloaded = min(requested, total) if info.gpu else 0
    return Accelerator(backend=info.backend, device=info.device, vram_mb=info.vram_mb,
                       gpu_count=info.gpu_count, offloaded_layers=max(0, offloaded), total_layers=total)
