"""A guard against a reference-counting bug in PySide6 6.12.0 on Python 3.11.

In that combination every call of a Qt method that returns nothing drops one reference to `None`, and
every `Signal.emit()` drops one to `True`. Python 3.12+ made these singletons immortal, so there it is
harmless; on 3.11 the interpreter aborts ("none_dealloc" / "bool_dealloc") after a few thousand calls,
i.e. minutes into a streamed answer. PySide6 6.11.3 does not have the bug.

The guard measures the leak once at start-up and, only if it is present, raises the singletons'
reference counts by 2**40 (the same idea as PEP 683's immortal objects). They are static objects that
are never freed, so a high count changes nothing else.
"""

from __future__ import annotations

import ctypes
import logging
import sys

from PySide6.QtCore import QObject, Signal

logger = logging.getLogger(__name__)

PROBE_CALLS = 64
HEADROOM = 1 << 40


class _Probe(QObject):
    fired = Signal()


def leaking_singletons() -> list[object]:
    """The singletons this PySide6 build loses references to (empty when it is sound)."""
    probe = _Probe()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(PROBE_CALLS):
        probe.setObjectName("probe")  # returns void
        probe.fired.emit()  # returns bool
    none_lost = none_before - sys.getrefcount(None)
    true_lost = true_before - sys.getrefcount(True)
    leaking: list[object] = []
    if none_lost >= PROBE_CALLS // 2:
        leaking.append(None)
    if true_lost >= PROBE_CALLS // 2:
        leaking += [True, False]
    return leaking


_applied = False


def protect_singletons() -> bool:
    """Apply the guard when needed (once per process); returns True when it is in place."""
    global _applied
    if _applied:
        return True
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False  # immortal singletons (PEP 683), or no reference counts to fix
    leaking = leaking_singletons()
    if not leaking:
        return False
    _applied = True
    for singleton in leaking:
        ctypes.c_ssize_t.from_address(id(singleton)).value += HEADROOM  # ob_refcnt is the first field
    import PySide6

    logger.warning(
        "PySide6 %s loses references to %s on Python %d.%d; guarded. Prefer PySide6 6.11.3.",
        PySide6.__version__,
        ", ".join(map(repr, leaking)),
        *sys.version_info[:2],
    )
    return True
