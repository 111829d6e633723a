"""Hardware probing: parsers on sample texts and on this machine's own /proc files."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from assistant.models import hardware
from assistant.models.hardware import Hardware, parse_cpuinfo, parse_meminfo

MEMINFO = """MemTotal:       16314020 kB
MemFree:          612340 kB
MemAvailable:    9876544 kB
Buffers:          204800 kB
Cached:          7000000 kB
SwapTotal:             0 kB
HugePages_Total:       0
"""
OLD_KERNEL_MEMINFO = """MemTotal:        2048000 kB
MemFree:          512000 kB
Buffers:          102400 kB
Cached:           409600 kB
"""
CPUINFO_SMT = "".join(
    f"processor\t: {cpu}\nmodel name\t: Test CPU 9000\nphysical id\t: 0\ncore id\t\t: {cpu % 4}\n\n"
    for cpu in range(8)
)  # 4 cores, 2 threads each
CPUINFO_ARM = (
    "processor\t: 0\nBogoMIPS\t: 50.00\n\nprocessor\t: 1\nBogoMIPS\t: 50.00\n\nHardware\t: BCM2835\n"
)


def test_meminfo_gives_total_and_available_in_mb() -> None:
    assert parse_meminfo(MEMINFO) == (16314020 // 1024, 9876544 // 1024)


def test_meminfo_without_memavailable_counts_free_plus_cache() -> None:
    assert parse_meminfo(OLD_KERNEL_MEMINFO) == (2000, (512000 + 102400 + 409600) // 1024)


def test_meminfo_that_says_nothing_gives_unknowns() -> None:
    assert parse_meminfo("") == (None, None)
    assert parse_meminfo("garbage\n:::\nMemTotal: lots\n") == (None, None)


def test_cpuinfo_counts_smt_siblings_once() -> None:
    assert parse_cpuinfo(CPUINFO_SMT) == (4, "Test CPU 9000")


def test_cpuinfo_without_core_ids_is_unknown_not_guessed() -> None:
    assert parse_cpuinfo(CPUINFO_ARM) == (None, "BCM2835")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_this_machines_proc_files_parse() -> None:
    total, available = parse_meminfo(Path("/proc/meminfo").read_text())
    assert total is not None and available is not None
    assert 0 < available <= total
    physical, _name = parse_cpuinfo(Path("/proc/cpuinfo").read_text())
    if physical is not None:
        assert 1 <= physical <= (os.cpu_count() or 1)


def test_probe_reports_this_machine(tmp_path: Path) -> None:
    found = hardware.probe(tmp_path / "not" / "created" / "yet")
    assert found.logical_cores is not None and found.logical_cores >= 1
    if found.physical_cores is not None:
        assert 1 <= found.physical_cores <= found.logical_cores
    assert found.free_disk_mb is not None and found.free_disk_mb > 0
    assert not (tmp_path / "not").exists()  # probing creates nothing
    if sys.platform.startswith("linux"):
        assert found.total_ram_mb and found.available_ram_mb
    lines = found.summary_lines()
    assert any(line.startswith("CPU cores: ") for line in lines)


def test_unknown_values_are_shown_as_unknown() -> None:
    blank = Hardware("Plan9 mips", None, None, None, None, None, None)
    text = "\n".join(blank.summary_lines())
    assert "CPU cores: unknown physical / unknown logical" in text
    assert "Memory: unknown free of unknown" in text
