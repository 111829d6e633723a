"""What this computer offers a local model: cores, memory and free disk (plain Python, no Qt, no ML).

The first-run panel and `assistant bench fit` show it next to each model's needs. Everything is read
from the operating system with the standard library (``/proc`` and ``/sys`` on Linux, ``sysctl`` on
macOS and ``GlobalMemoryStatusEx`` on Windows through ctypes); a value the system does not give is
``None`` and shown as "unknown", never guessed. Whether llama.cpp can offload to a GPU is a property of
the engine's build, so the engine process reports it (``ModelBenchmarked.gpu_offload``), not this module.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MB = 1024 * 1024


@dataclass(frozen=True)
class Hardware:
    system: str  # e.g. "Linux x86_64"
    cpu_name: str | None
    logical_cores: int | None  # what the OS schedules on (SMT siblings counted)
    physical_cores: int | None  # what llama.cpp gains from (SMT siblings counted once)
    total_ram_mb: int | None
    available_ram_mb: int | None  # free now, page cache that can be dropped included
    free_disk_mb: int | None  # in the data folder, where bundled models are assembled

    def summary_lines(self) -> list[str]:
        """Human-readable lines for the panel and the CLI."""
        cores = f"{_known(self.physical_cores)} physical / {_known(self.logical_cores)} logical"
        ram = f"{_gb(self.available_ram_mb)} free of {_gb(self.total_ram_mb)}"
        return [
            f"System: {self.system}" + (f", {self.cpu_name}" if self.cpu_name else ""),
            f"CPU cores: {cores}",
            f"Memory: {ram}",
            f"Free disk in the data folder: {_gb(self.free_disk_mb)}",
        ]


def _known(value: int | None) -> str:
    return "unknown" if value is None else str(value)


def _gb(mb: int | None) -> str:
    return "unknown" if mb is None else f"{mb / 1024:.1f} GB"


# ---- parsing (pure functions, tested on sample texts) ----------------------------------------------


def parse_meminfo(text: str) -> tuple[int | None, int | None]:
    """(total MB, available MB) from /proc/meminfo; available falls back to free + cached on old
    kernels (before 3.14) that lack MemAvailable."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            kib = int(fields[0])
            values[key.strip()] = kib * 1024 if len(fields) > 1 and fields[1].lower() == "kb" else kib
    total = values.get("MemTotal")
    available = values.get("MemAvailable")
    if available is None and "MemFree" in values:
        available = values["MemFree"] + values.get("Cached", 0) + values.get("Buffers", 0)
    return (None if total is None else total // MB, None if available is None else available // MB)


def parse_cpuinfo(text: str) -> tuple[int | None, str | None]:
    """(physical cores, CPU model name) from /proc/cpuinfo; cores are distinct (physical id, core id)
    pairs, None when the file does not say (some ARM and virtual machines)."""
    cores: set[tuple[str, str]] = set()
    name: str | None = None
    physical = core = None
    for line in [*text.splitlines(), ""]:
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not key:  # a blank line ends one processor's block
            if core is not None:
                cores.add((physical or "0", core))
            physical = core = None
        elif key == "physical id":
            physical = value
        elif key == "core id":
            core = value
        elif key in ("model name", "Hardware", "cpu model") and name is None and value:
            name = value
    return (len(cores) or None, name)


# ---- probing this machine --------------------------------------------------------------------------


def probe(data_dir: Path) -> Hardware:
    """This machine as it is now. Cheap (a few small file reads): safe to call on the GUI thread."""
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    physical, cpu_name = _cores_and_name()
    total, available = _memory()
    if physical is not None and logical is not None:
        physical = min(physical, logical)  # a process limited to some CPUs gains nothing from the rest
    return Hardware(
        system=f"{platform.system() or 'unknown'} {platform.machine()}".strip(),
        cpu_name=cpu_name or (platform.processor() or None),
        logical_cores=logical,
        physical_cores=physical,
        total_ram_mb=total,
        available_ram_mb=available,
        free_disk_mb=free_disk_mb(data_dir),
    )


def free_disk_mb(folder: Path) -> int | None:
    """Free space where `folder` is (or would be created: its nearest existing parent)."""
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free // MB
    except OSError as error:
        log.info("free disk unknown for %s: %s", folder, error)
        return None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _cores_and_name() -> tuple[int | None, str | None]:
    if sys.platform.startswith("linux"):
        text = _read("/proc/cpuinfo")
        return parse_cpuinfo(text) if text is not None else (None, None)
    if sys.platform == "darwin":
        cores = _sysctl_int("hw.physicalcpu")
        return cores, _sysctl_str("machdep.cpu.brand_string")
    return None, None  # Windows: counting cores needs GetLogicalProcessorInformationEx; not worth it


def _memory() -> tuple[int | None, int | None]:
    if sys.platform.startswith("linux"):
        text = _read("/proc/meminfo")
        if text is not None:
            return parse_meminfo(text)
    if sys.platform == "win32":
        return _windows_memory()
    if sys.platform == "darwin":
        total = _sysctl_int("hw.memsize")
        return (None if total is None else total // MB), None  # "available" has no stdlib answer there
    return _sysconf_memory()


def _sysconf_memory() -> tuple[int | None, int | None]:
    """POSIX fallback; SC_AVPHYS_PAGES counts only free pages, so it under-states what is usable."""
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        total = os.sysconf("SC_PHYS_PAGES") * page // MB
    except (ValueError, OSError, AttributeError):
        return None, None
    try:
        available: int | None = os.sysconf("SC_AVPHYS_PAGES") * page // MB
    except (ValueError, OSError):
        available = None
    return total, available


def _windows_memory() -> tuple[int | None, int | None]:
    import ctypes  # only where it is needed: the window's start-up imports this module

    class MemoryStatus(ctypes.Structure):
        _fields_ = [
            ("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
            ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
            ("ullTotalPageFile", ctypes.c_ulonglong), ("ullAvailPageFile", ctypes.c_ulonglong),
            ("ullTotalVirtual", ctypes.c_ulonglong), ("ullAvailVirtual", ctypes.c_ulonglong),
            ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
        ]

    status = MemoryStatus()
    status.dwLength = ctypes.sizeof(MemoryStatus)
    try:
        ok = ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status))  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return None, None
    return (status.ullTotalPhys // MB, status.ullAvailPhys // MB) if ok else (None, None)


def _libc() -> Any:
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def _sysctl_raw(name: str, size: int) -> bytes | None:
    import ctypes

    libc = _libc()
    if libc is None or not hasattr(libc, "sysctlbyname"):
        return None
    buffer = ctypes.create_string_buffer(size)
    length = ctypes.c_size_t(size)
    if libc.sysctlbyname(name.encode(), buffer, ctypes.byref(length), None, 0) != 0:
        return None
    return buffer.raw[: length.value]


def _sysctl_int(name: str) -> int | None:
    raw = _sysctl_raw(name, 8)
    return int.from_bytes(raw, sys.byteorder) if raw else None


def _sysctl_str(name: str) -> str | None:
    raw = _sysctl_raw(name, 256)
    return raw.split(b"\0", 1)[0].decode(errors="replace") or None if raw else None
