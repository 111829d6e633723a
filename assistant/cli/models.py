"""`assistant models add | remove | verify`: the Models dialog's operations on the command line.

Progress goes to stderr (one line, rewritten); results and errors are sentences. The hub commands
(`search`, `files`, `download`) are in ``models_hub.py``.
"""

from __future__ import annotations

import sys
import time

from assistant import settings
from assistant.models import catalog


class _ProgressLine:
    """A progress line on stderr, rewritten at most five times a second."""

    def __init__(self) -> None:
        self._next = 0.0
        self._start = time.monotonic()

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now < self._next and done != total:
            return
        self._next = now + 0.2
        speed = done / max(now - self._start, 1e-6) / 1e6
        share = f" {100 * done / total:5.1f}%" if total else ""
        sys.stderr.write(f"\r{stage}:{share} {done / 1e6:,.1f} MB ({speed:,.0f} MB/s)   ")
        sys.stderr.flush()

    def end(self) -> None:
        sys.stderr.write("\n")


def add_command(paths: list[str], mode: str) -> int:
    from pathlib import Path

    from assistant.models.user_files import add_models

    folder = catalog.user_models_dir(settings.data_dir())
    line = _ProgressLine()
    try:
        added = add_models([Path(p).expanduser() for p in paths], folder, mode=mode, progress=line)
    except catalog.ModelError as error:
        line.end()
        print(f"error: {error}", file=sys.stderr)
        return 1
    line.end()
    for path in added.files:
        print(f"added {path}")
    for note in added.notes:
        print(note)
    return 0


def remove_command(name: str) -> int:
    from assistant.models.user_files import remove_model

    try:
        removed = remove_model(name, settings.data_dir())
    except catalog.ModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in removed:
        print(f"removed {path}")
    return 0


def verify_command() -> int:
    from assistant.models.user_files import verify_models

    line = _ProgressLine()
    verdicts = verify_models(settings.data_dir(), progress=line)
    line.end()
    words = {True: "ok", False: "DAMAGED", None: "not checked"}
    for v in verdicts:
        print(f"{v.name}: {words[v.ok]}: {v.message}")
    return 1 if any(v.ok is False for v in verdicts) else 0
