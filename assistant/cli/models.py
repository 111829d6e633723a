"""`assistant models add | remove | verify | install`: the Models dialog's operations on the command line.

Progress goes to stderr (one line, rewritten); results and errors are sentences. The hub commands
(`search`, `files`, `download`) are in ``models_hub.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

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


def install_command(name: str) -> int:
    """`assistant models install NAME`: one recommended download, resumed by running it again."""
    from assistant.models.download import DownloadError
    from assistant.models.picks import find_pick, install

    data_dir = settings.data_dir()
    line = _ProgressLine()
    try:
        entry = find_pick(name, data_dir)
        path = install(entry, data_dir, endpoint=settings.load_settings().hub_endpoint, progress=line)
    except KeyboardInterrupt:
        line.end()
        print("stopped; what was downloaded is kept: run the same command to resume", file=sys.stderr)
        return 130
    except (DownloadError, catalog.ModelError) as error:
        line.end()
        print(f"error: {error}", file=sys.stderr)
        return 1
    line.end()
    print(f"installed {entry.name}: {path}")
    print(_after_install(entry))
    return 0


def _after_install(entry: catalog.ModelEntry) -> str:
    if entry.role == "clip":
        return ("image labels and image search now use it (`assistant describe IMAGE`, "
                "`assistant search-images`)")
    if entry.role == "stt":
        return f"choose it in Settings ▸ Voice, or `assistant transcribe --model {entry.name} FILE`"
    vision = " (it reads images: its projector came along)" if entry.projector else ""
    return f"choose it in the model picker, or `assistant ask --model {entry.name} TEXT`{vision}"


def picks_table(data_dir: Path) -> str:
    """The recommended downloads with size, memory, fit on this computer, licence and status."""
    from assistant.models.fit import fit
    from assistant.models.hardware import probe
    from assistant.models.picks import offered

    picks = offered()
    if not picks:
        return ""
    machine = probe(data_dir)
    rows = [("NAME", "ROLE", "SIZE MB", "RAM MB", "FIT", "LICENCE", "STATUS")]
    for e in picks:
        status = catalog.model_status(e, data_dir)
        rows.append((e.name, e.role, f"{e.size / 1e6:,.0f}" if e.size else "?",
                     str(e.ram_mb or "?"), fit(e.ram_mb, machine), e.licence, status))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    lines = ["  ".join(f"{c:<{w}}" for c, w in zip(r[:6], widths, strict=True)) + f"  {r[6]}" for r in rows]
    return "\n".join(["Recommended downloads (`assistant models install NAME`; nothing connects until "
                      "you run it):", *lines])
