"""Counts every attempt of this process (and of the engine process) to reach the network.

`assistant selftest` and the offline tests use it as proof that the app works with no network: a
Python audit hook (PEP 578) sees each `socket.connect`, each datagram sent to an address and each name
lookup (`getaddrinfo`, `gethostbyname`, ...) made through Python's socket module, whichever library
makes it (huggingface_hub, urllib, a stray telemetry client). Native code that opens sockets itself
(llama.cpp, onnxruntime, Qt) bypasses Python; the offline test therefore also runs the app in a
network namespace with no interfaces (`unshare -rn`), where such a connection would fail loudly.

Attempts are appended, one line each, to the file named by `AUDIT_ENV`: the engine process inherits
the variable (multiprocessing spawn copies the environment) and installs the same hook at start, so one
file collects both processes. Audit hooks cannot be removed, so `install` is once per process.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from pathlib import Path

AUDIT_ENV = "ASSISTANT_NETWORK_AUDIT"

# Socket audit events that reach, or look up, another machine. "socket.__new__" and "socket.bind" are
# left out: multiprocessing and Qt create local sockets without any network.
_LOOKUPS = frozenset({
    "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo",
})
_SENDS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})
_INET = (socket.AF_INET, socket.AF_INET6)

_lock = threading.Lock()
_installed_path: Path | None = None
_unrecorded = 0  # attempts of this process that could not be written to the file


INSTALLED = "installed"  # the first line each audited process writes: proof the hook is there


def install(log_path: Path) -> None:
    """Record this process's network attempts in `log_path` (and tell spawned children to do the same).

    The process first writes "PID installed", so a log with no attempts proves the audit was on (an
    empty or missing file proves nothing)."""
    global _installed_path
    with _lock:
        os.environ[AUDIT_ENV] = str(log_path)
        if _installed_path is not None:
            return
        _installed_path = log_path
        try:
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(f"{os.getpid()} {INSTALLED}\n")
        except OSError:
            pass  # counted below like any attempt that could not be written
    sys.addaudithook(_hook)


def install_from_env() -> None:
    """In the engine process: audit too when the parent process asked for it."""
    path = os.environ.get(AUDIT_ENV)
    if path:
        install(Path(path))


def read_attempts(log_path: Path) -> list[str]:
    """The attempts recorded so far, one description each ("pid event detail")."""
    return [line for line in _lines(log_path) if line.split(" ", 1)[-1] != INSTALLED]


def audited_processes(log_path: Path) -> set[int]:
    """The processes that had the audit hook installed (their "PID installed" lines)."""
    return {int(line.split()[0]) for line in _lines(log_path)
            if line.split(" ", 1)[-1] == INSTALLED and line.split()[0].isdigit()}


def _lines(log_path: Path) -> list[str]:
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if line.strip()]


def describe(event: str, args: tuple[object, ...]) -> str | None:
    """A one-line description when (event, args) is a network attempt, else None."""
    if event in _LOOKUPS:
        return f"{event} {args[0]!r}" if args else event
    if event not in _SENDS or not args:
        return None
    sock = args[0]
    family = getattr(sock, "family", None)
    if family not in _INET:
        return None  # a Unix socket or a socketpair between our own processes
    address = args[-1]
    return f"{event} {address!r}"


def _hook(event: str, args: tuple[object, ...]) -> None:
    # Runs for every audited event in the process (imports, opens, ...): leave quickly.
    if not event.startswith("socket."):
        return
    line = describe(event, args)
    if line is None or _installed_path is None:
        return
    try:
        # Appended at once (not buffered) so a process killed right after still leaves the record.
        with open(_installed_path, "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()} {line}\n")
    except OSError:
        global _unrecorded
        _unrecorded += 1  # the audit must never break the app; `unrecorded()` still counts it


def unrecorded() -> int:
    """Attempts of this process that the log file did not take (full disk, removed folder)."""
    return _unrecorded
