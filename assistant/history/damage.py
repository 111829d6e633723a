"""A damaged SQLite file (the history, the image library): found at open, copied aside, opened read-only.

A bit flipped on disk, a copy interrupted half-way, a sync tool that merged two versions: SQLite then
answers "database disk image is malformed" for some pages, or "file is not a database" for all. The app
must neither crash nor quietly start an empty file over the user's data, so a store that finds damage
keeps a copy of the file as it was (`backup`, once per distinct content) and reopens the original
read-only (`open_read_only`): whatever can still be read is shown and exported, nothing is written into
the damaged file, and the message (`damaged_message`) says where the copy is and how to start afresh.

`PRAGMA integrity_check` at every open finds damage before the first write: it reads every page once
and checks every index against its table (about 45 ms for a 43 MB history of 30,000 messages on this
project's 2-core machine, warm cache).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import sqlite3
from pathlib import Path
from urllib.parse import quote

logger = logging.getLogger(__name__)

CORRUPT_CODES = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def is_damage(error: sqlite3.Error) -> bool:
    """True for SQLite's "malformed" and "not a database" errors (the file's content, not the disk)."""
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in CORRUPT_CODES:
        return True
    lowered = str(error).lower()
    return "malformed" in lowered or "not a database" in lowered


def problem(conn: sqlite3.Connection) -> str | None:
    """None when `PRAGMA integrity_check` finds the file sound, else SQLite's first complaints.

    Not `quick_check`: it skips comparing indexes with their tables, and a flipped byte in an indexed
    value (an image's hash) then leaves a file that opens as sound and answers lookups wrongly."""
    try:
        rows = conn.execute("PRAGMA integrity_check(5)").fetchall()
    except sqlite3.DatabaseError as error:
        if not is_damage(error):
            raise
        return str(error)
    found = [str(row[0]) for row in rows]
    return None if found == ["ok"] else "; ".join(found)


def backup(path: Path) -> Path | None:
    """Copies the damaged file (and its -wal) beside it as NAME.damaged-DIGEST; the same damage found
    again on the next start is not copied twice. None when no copy could be made (the message says so)."""
    path = Path(path)
    try:
        digest = _digest(path)
        copy = path.with_name(f"{path.name}.damaged-{digest[:12]}")
        if not copy.exists():
            shutil.copy2(path, copy)
            wal = Path(f"{path}-wal")
            if wal.exists():
                shutil.copy2(wal, Path(f"{copy}-wal"))
            logger.warning("Kept a copy of the damaged %s as %s", path, copy)
        return copy
    except OSError as error:
        logger.error("Could not copy the damaged %s: %s", path, error)
        return None


def open_read_only(path: Path) -> sqlite3.Connection:
    """The file opened so that nothing, not even a checkpoint, can write into it. Raises sqlite3.Error."""
    conn = sqlite3.connect(f"file:{quote(str(Path(path).resolve()))}?mode=ro", uri=True,
                           isolation_level=None)
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # "not a database" shows here
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def damaged_message(what: str, path: Path, copy: Path | None, readable: bool) -> str:
    """What the user reads: which file, what still works, where the copy is, how to start afresh."""
    kept = (f"A copy of it as it was is kept as {copy.name} in the same folder."
            if copy is not None else "No copy of it could be made (is the disk full?): copy it yourself.")
    if readable:
        state = ("It is open read-only: what can still be read is shown and can be exported, but nothing "
                 "new is saved.")
    else:
        state = "Nothing in it can be read, and it was left untouched."
    return (f"Your {what} file is damaged ({path}). {state} {kept} To start a new {what}, quit the "
            f"assistant and move {Path(path).name} out of its folder.")


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
