"""Will a GGUF file from the hub run well on *this* machine? The label Browse shows next to each file.

The rule (pure, so the CLI, the window and the tests agree):

- **RAM need** = the weights kept on the CPU × 1.15 + 150 MB (the estimate the models list uses for
  any user file: memory-mapped weights, a 4k context and work buffers); a vision model's projector
  counts too. With a GPU build and its VRAM known, the weights that fit in VRAM (less 300 MB the GPU
  keeps for its own buffers) leave the CPU.
- **Decode speed** is memory-bound: every token reads every weight on the CPU once, so
  tokens/s ≈ memory bandwidth / those bytes. The bandwidth is taken as 6 GB/s per physical core, at
  most 40 GB/s (dual-channel DDR4/5). Measured on this project's 2-core machine: Qwen2.5 0.5B Q4_K_M
  (491 MB) decodes 24–29 tokens/s with 2 threads (12–14 GB/s) and 7.7–11 with 1 (4–5.5 GB/s).
- **won't fit**: the RAM need plus 512 MB headroom exceeds the total memory (``fit.fit`` says
  "too big"). **slow**: it fits only if other programs close ("tight"), or decodes below
  ``fit.USABLE_TOKENS_PER_S`` (8 tokens/s, a little faster than people read). **fits**: otherwise.
  **unknown**: the machine does not say how much memory it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from assistant.models import fit as model_fit
from assistant.models.catalog import _estimate_ram_mb
from assistant.models.hardware import Hardware

FitLabel = Literal["fits", "slow", "won't fit", "unknown"]

BYTES_PER_S_PER_CORE = 6e9
MAX_BYTES_PER_S = 40e9
GPU_RESERVED_MB = 300


@dataclass(frozen=True)
class FileFit:
    label: FitLabel
    ram_mb: int
    tokens_per_s: float | None  # estimated decode speed; None when the core count is unknown
    reason: str


def ram_need_mb(cpu_bytes: int) -> int:
    """The models list's estimate for a user's file, so both say the same about one file."""
    return _estimate_ram_mb(cpu_bytes)


def assess(size: int, hardware: Hardware, vram_mb: int | None = None, projector: int = 0) -> FileFit:
    """The label, RAM need and estimated speed of a model file of ``size`` bytes (rule above); a
    vision model's ``projector`` bytes count towards memory, not speed (images only, not tokens)."""
    on_gpu = 0
    if vram_mb:
        on_gpu = max(0, min(size, int((vram_mb - GPU_RESERVED_MB) * 1e6)))
    cpu_bytes = size - on_gpu
    ram = ram_need_mb(cpu_bytes + projector)
    memory = model_fit.fit(ram, hardware)
    cores = hardware.physical_cores or hardware.logical_cores
    speed: float | None
    if cpu_bytes == 0:
        speed = None  # all on the GPU: far above the threshold, and nothing here measures it
    elif cores:
        speed = min(cores * BYTES_PER_S_PER_CORE, MAX_BYTES_PER_S) / cpu_bytes
    else:
        speed = None
    where = f" ({on_gpu / 1e9:.1f} GB in VRAM)" if on_gpu else ""
    if memory == "too big":
        return FileFit("won't fit", ram, speed, f"needs ~{ram / 1024:.1f} GB of memory{where}; this "
                       f"computer has {_gb(hardware.total_ram_mb)}")
    if memory == "unknown":
        return FileFit("unknown", ram, speed, f"needs ~{ram / 1024:.1f} GB of memory{where}; this "
                       "computer does not say how much it has")
    if memory == "tight":
        return FileFit("slow", ram, speed, f"needs ~{ram / 1024:.1f} GB{where}: only "
                       f"{_gb(hardware.available_ram_mb)} is free now, so other programs must close")
    if speed is not None and speed < model_fit.USABLE_TOKENS_PER_S:
        return FileFit("slow", ram, speed, f"about {speed:.0f} tokens/s here (under "
                       f"{model_fit.USABLE_TOKENS_PER_S:.0f}, slower than reading)")
    if speed is None:
        told = "on the GPU"
    else:  # a tiny file's estimate is all overhead-free arithmetic: say "fast", not 10 million
        told = f"about {speed:.0f} tokens/s here" if speed < 200 else "over 200 tokens/s here"
    return FileFit("fits", ram, speed, f"{told}, ~{ram / 1024:.1f} GB of memory{where}")


def _gb(mb: int | None) -> str:
    return "an unknown amount" if mb is None else f"{mb / 1024:.1f} GB"


__all__ = ["FileFit", "FitLabel", "assess", "ram_need_mb"]
