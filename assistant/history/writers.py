"""Which process is writing a streaming answer, and whether that process is still alive.

An answer is stored as 'streaming' while its tokens arrive and gets its final status when it ends. A
process killed mid-answer (`kill -9` of `assistant ask`, a crashed window) never writes that final
status, so the next process that opens the history marks such rows 'interrupted' — but only rows whose
writer is gone: a second process (the window beside a running `ask`) must never touch an answer that is
still being written. Each streaming row therefore names its writer: host, boot, process id and the
process's start time, so a recycled process id after a reboot or a long uptime is not mistaken for the
writer. Plain Python, no dependencies: /proc on Linux; elsewhere the process id alone.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path


@functools.cache
def this_process() -> str:
    """The token stored with the rows this process is writing."""
    return _token(os.getpid())


def is_alive(token: str | None) -> bool:
    """False when the process that wrote `token` has certainly ended; True while it may be running
    (a token of another computer sharing the history folder cannot be checked, so it counts as alive)."""
    if not token:
        return False  # rows written before writers were recorded: nobody is writing them now
    host, boot, pid_text, start = [*token.split("|"), "", "", "", ""][:4]
    if host != socket.gethostname():
        return True
    if not pid_text.isdigit():
        return False
    if boot and boot != _boot_id():
        return False  # this computer restarted since: every process of that boot has ended
    pid = int(pid_text)
    if not _pid_exists(pid):
        return False
    return not start or start == _start_time(pid)  # same id, other process: the writer is gone


def _token(pid: int) -> str:
    return "|".join((socket.gethostname(), _boot_id(), str(pid), _start_time(pid)))


def _boot_id() -> str:
    return _read("/proc/sys/kernel/random/boot_id").strip()


def _start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat (clock ticks since boot): unique for a process id within one boot."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return ""
    fields = stat[stat.rfind(")") + 2 :].split()  # after the command name, which may hold spaces
    return fields[19] if len(fields) > 19 else ""


def _pid_exists(pid: int) -> bool:
    if Path("/proc").is_dir():
        return Path(f"/proc/{pid}").exists()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, but belongs to someone else (or this platform cannot say)
    return True


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""
