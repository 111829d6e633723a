"""How much of the CPU other programs took while something of ours ran (plain Python, Linux /proc).

The first-run benchmark measures a model's speed in a few seconds; a compiler or a browser tab busy at
the same moment can halve the number and cost the recommendation its larger model. So the benchmark
samples the machine's CPU time (`/proc/stat`, all cores) and its own process's (`/proc/self/stat`, all
threads) before and after, and the difference is what everything else used: a share of the machine's
capacity, 0 (quiet) to 1 (every core busy with others). Where /proc is missing (macOS, Windows) the
share is unknown (None) and nothing is re-measured.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Others took more than a quarter of the machine (half a core of a 2-core laptop, a whole one of 4):
# enough to slow llama.cpp, whose threads need every core they were given at each step.
BUSY_SHARE = 0.25


@dataclass(frozen=True)
class CpuTimes:
    busy_s: float  # every core, every process: time not idle
    total_s: float  # every core: wall time x cores, as the kernel counts it
    own_s: float  # this process, all its threads (user + system)


def parse_proc_stat(text: str, ticks_per_s: float) -> tuple[float, float] | None:
    """(busy seconds, total seconds) from /proc/stat's first line; idle and iowait count as not busy."""
    first = text.split("\n", 1)[0].split()
    if not first or first[0] != "cpu" or len(first) < 6:
        return None
    values = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
    total = sum(values)
    idle = values[3] + values[4]
    return (total - idle) / ticks_per_s, total / ticks_per_s


def parse_own_stat(text: str, ticks_per_s: float) -> float | None:
    """User + system seconds of the process from /proc/<pid>/stat (fields 14 and 15)."""
    fields = text.rsplit(")", 1)[-1].split()  # the command name may hold spaces and parentheses
    if len(fields) < 13:
        return None
    return (int(fields[11]) + int(fields[12])) / ticks_per_s


def sample() -> CpuTimes | None:
    try:
        ticks = float(os.sysconf("SC_CLK_TCK"))
        machine = parse_proc_stat(Path("/proc/stat").read_text(), ticks)
        own = parse_own_stat(Path("/proc/self/stat").read_text(), ticks)
    except (OSError, ValueError, AttributeError):  # no /proc, or no sysconf (Windows)
        return None
    if machine is None or own is None:
        return None
    return CpuTimes(machine[0], machine[1], own)


def others_share(before: CpuTimes | None, after: CpuTimes | None) -> float | None:
    """The share of the machine's CPU capacity that other processes used between the two samples."""
    if before is None or after is None:
        return None
    total = after.total_s - before.total_s
    if total <= 0:
        return None
    others = (after.busy_s - before.busy_s) - (after.own_s - before.own_s)
    return min(max(others / total, 0.0), 1.0)
